"""Charts as inline SVG drawn on the server: no JavaScript library, no CDN, works offline.

Colours are CSS classes (``series-N``, ``tone-<state>``) defined by the page's stylesheet, so a chart follows
Airflow's light and dark theme with the page. Every text drawn is escaped here. Each chart carries
``data-points`` (how many values it plots) so tests and people can tell an empty chart from a drawn one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

WIDTH = 720
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 14, 34


@dataclass(frozen=True)
class Bar:
    """One bar of a histogram or one stack of a stacked bar chart."""

    label: str
    values: dict[str, float]
    tip: str = ""


def nice_ceiling(value: float, integer: bool = False) -> float:
    """An axis maximum at or above ``value`` whose quarter is 1, 2 or 5 x 10^n (clean grid labels);
    with ``integer`` the quarter is at least 1 (counts)."""
    quarter = value / 4 if value > 0 else 0.25
    exponent = math.floor(math.log10(quarter))
    step = 10.0**exponent
    for factor in (1, 2, 5, 10):
        if factor * 10.0**exponent >= quarter:
            step = factor * 10.0**exponent
            break
    if integer:
        step = max(step, 1.0)
    return 4 * step


MAX_BAR = 56.0
"""Widest bar in pixels: a few bars stay bars, not blocks."""


def _fmt(value: float) -> str:
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def _frame(label: str, points: int, width: int, height: int, body: list[str], y_max: float, y_unit: str) -> str:
    plot_h = height - PAD_TOP - PAD_BOTTOM
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(label)}" data-points="{points}" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    for i in range(5):  # horizontal grid lines with y labels
        value = y_max * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(value))}{escape(y_unit)}</text>'
        )
    parts.extend(body)
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    bars: Sequence[Bar],
    *,
    label: str,
    series: Sequence[str],
    classes: dict[str, str] | None = None,
    y_unit: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
    label_every: int = 1,
    integer: bool = False,
) -> str:
    """Bars (stacked when several ``series``), one per entry of ``bars``; x labels every ``label_every`` bars."""
    classes = classes or {name: f"series-{i % 6}" for i, name in enumerate(series)}
    totals = [sum(bar.values.get(s, 0.0) for s in series) for bar in bars]
    y_max = nice_ceiling(max(totals, default=0.0), integer)
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    slot = min(plot_w / max(len(bars), 1), MAX_BAR + 8)
    gap = max(min(6.0, slot * 0.2), slot - MAX_BAR)
    body: list[str] = []
    points = 0
    for index, bar in enumerate(bars):
        x = PAD_LEFT + index * slot + gap / 2
        base = float(PAD_TOP + plot_h)
        for name in series:
            value = bar.values.get(name, 0.0)
            if value <= 0:
                continue
            points += 1
            h = plot_h * value / y_max
            base -= h
            tip = f"{bar.label}: {name} {_fmt(value)}{y_unit}" + (f" ({bar.tip})" if bar.tip else "")
            body.append(
                f'<rect class="bar {classes.get(name, "series-0")}" x="{x:.1f}" y="{base:.1f}" '
                f'width="{max(slot - gap, 1):.1f}" height="{max(h, 0.5):.1f}"><title>{escape(tip)}</title></rect>'
            )
        if index % max(label_every, 1) == 0:
            body.append(
                f'<text class="axis" x="{x + (slot - gap) / 2:.1f}" y="{height - PAD_BOTTOM + 16}" '
                f'text-anchor="middle">{escape(bar.label)}</text>'
            )
    return _frame(label, points, width, height, body, y_max, y_unit)


def line_chart(
    times: Sequence[datetime],
    series: dict[str, Sequence[float | None]],
    *,
    label: str,
    y_unit: str = "",
    width: int = WIDTH,
    height: int = HEIGHT,
    classes: dict[str, str] | None = None,
) -> str:
    """One line per series over shared ``times`` (gaps where a value is None), with a dot per value."""
    classes = classes or {name: f"series-{i % 6}" for i, name in enumerate(series)}
    values = [v for vs in series.values() for v in vs if v is not None]
    y_max = nice_ceiling(max(values, default=0.0))
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    if times:
        start, end = times[0].timestamp(), times[-1].timestamp()
    else:
        start = end = 0.0
    span = max(end - start, 1.0)

    def xy(t: datetime, v: float) -> tuple[float, float]:
        x = PAD_LEFT + (plot_w * (t.timestamp() - start) / span if len(times) > 1 else plot_w / 2)
        return x, PAD_TOP + plot_h - plot_h * v / y_max

    body: list[str] = []
    points = 0
    for name, vs in series.items():
        css = classes.get(name, "series-0")
        segments: list[list[tuple[float, float]]] = [[]]
        for t, v in zip(times, vs, strict=False):
            if v is None:
                segments.append([])
                continue
            segments[-1].append(xy(t, v))
            x, y = segments[-1][-1]
            points += 1
            tip = f"{t:%H:%M} UTC · {name} {_fmt(v)}{y_unit}"
            body.append(
                f'<circle class="dot {css}" cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(tip)}</title></circle>'
            )
        for segment in segments:
            if len(segment) > 1:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
                body.insert(0, f'<polyline class="line {css}" points="{path}"/>')
    ticks = min(len(times), 6)
    for i in range(ticks):  # x labels: evenly spaced times
        t = times[round(i * (len(times) - 1) / max(ticks - 1, 1))]
        x, _ = xy(t, 0)
        body.append(
            f'<text class="axis" x="{x:.1f}" y="{height - PAD_BOTTOM + 16}" text-anchor="middle">{t:%H:%M}</text>'
        )
    return _frame(label, points, width, height, body, y_max, y_unit)


def legend(series: Sequence[str], classes: dict[str, str] | None = None) -> str:
    """A row of swatches naming each series (HTML, escaped)."""
    classes = classes or {name: f"series-{i % 6}" for i, name in enumerate(series)}
    items = "".join(
        f'<span class="legend-item"><span class="swatch {classes.get(n, "series-0")}"></span>{escape(n)}</span>'
        for n in series
    )
    return f'<div class="legend">{items}</div>'
