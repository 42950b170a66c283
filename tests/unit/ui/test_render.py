"""Display helpers of the Courier pages (``ui/render.py``, no I/O)."""

from __future__ import annotations

from courier.ui.render import fmt_bytes, fmt_ms, fmt_seconds, tone


def test_display_helpers() -> None:
    assert fmt_ms(0.42) == "0.4 ms" and fmt_ms(41.2) == "41 ms" and fmt_ms(1300) == "1.3 s" and fmt_ms(None) == "—"
    assert fmt_seconds(0.85) == "850 ms" and fmt_seconds(185) == "3 min 5 s" and fmt_seconds(7800) == "2 h 10 min"
    assert fmt_bytes(512) == "512 B" and fmt_bytes(12_595) == "12.3 KiB"
    assert tone("delivered") == "success" and tone("FAILED") == "failed" and tone("whatever") == "muted"
