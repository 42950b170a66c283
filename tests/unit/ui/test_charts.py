"""The server-drawn SVG charts and display helpers of the Courier pages (no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from courier.ui import charts
from courier.ui.readme import slug
from courier.ui.render import fmt_bytes, fmt_ms, fmt_seconds, tone


@pytest.mark.parametrize(
    ("value", "integer", "expected"),
    [
        (0, False, 2.0),
        (1, True, 4.0),
        (3, False, 4.0),
        (13.5, False, 20.0),
        (29.5, False, 40.0),
        (0.3, False, 0.4),
        (130, True, 200.0),
    ],
)
def test_axis_maximum_has_clean_quarter_ticks(value: float, integer: bool, expected: float) -> None:
    assert charts.nice_ceiling(value, integer) == pytest.approx(expected)


def test_bar_chart_counts_points_escapes_text_and_stacks() -> None:
    bars = [charts.Bar("<b>", {"ok": 2, "bad": 1}), charts.Bar("b", {"ok": 0}), charts.Bar("c", {"bad": 3})]
    svg = charts.bar_chart(bars, label='x "quoted" & <tag>', series=["ok", "bad"], integer=True)
    assert 'data-points="3"' in svg  # zero values draw nothing
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&quot;quoted&quot; &amp; &lt;tag&gt;" in svg
    assert len(re.findall(r"<rect ", svg)) == 3
    widths = [float(w) for w in re.findall(r'<rect [^>]*width="([\d.]+)"', svg)]
    assert max(widths) <= charts.MAX_BAR  # few bars stay narrow


def test_line_chart_gaps_and_points() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    times = [start + timedelta(minutes=i) for i in range(4)]
    svg = charts.line_chart(times, {"p50": [1, 2, None, 4], "p99": [5, 6, 7, 8]}, label="latency", y_unit=" ms")
    assert 'data-points="7"' in svg
    assert svg.count("<polyline") == 2  # p50's gap splits it: one segment of two points, one lone dot
    assert "00:00" in svg and "00:03" in svg


def test_empty_chart_draws_no_point() -> None:
    assert 'data-points="0"' in charts.bar_chart([], label="none", series=["a"])
    assert 'data-points="0"' in charts.line_chart([], {"a": []}, label="none")


def test_display_helpers() -> None:
    assert fmt_ms(0.42) == "0.4 ms" and fmt_ms(41.2) == "41 ms" and fmt_ms(1300) == "1.3 s" and fmt_ms(None) == "—"
    assert fmt_seconds(0.85) == "850 ms" and fmt_seconds(185) == "3 min 5 s" and fmt_seconds(7800) == "2 h 10 min"
    assert fmt_bytes(512) == "512 B" and fmt_bytes(12_595) == "12.3 KiB"
    assert tone("delivered") == "success" and tone("FAILED") == "failed" and tone("whatever") == "muted"


def test_readme_slugs_match_github() -> None:
    assert slug("Timers: webhooks on time") == "timers-webhooks-on-time"
    assert slug("What you see after `make demo`") == "what-you-see-after-make-demo"
    assert slug("Pages: API snapshots and paginated fan-out") == "pages-api-snapshots-and-paginated-fan-out"
