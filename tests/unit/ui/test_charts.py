"""The server-drawn SVG charts of the Courier pages (``ui/charts.py``, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from courier.ui import charts


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
