"""The stats page: pick a metric (name + tags) and a time range; count and p50/p95/p99 per minute, one panel
per tag set."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request, Response

from courier.api.errors import ApiError
from courier.stats.api import tag_sets
from courier.stats.store import StatsStore
from courier.ui import charts
from courier.ui.render import render, svg
from courier.ui.screens.common import User, page_router

router = page_router()

RANGES = ((15, "15 minutes"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours"))
PERCENTILES = {"p50": "series-0", "p95": "series-3", "p99": "series-1"}
MAX_PANELS = 6


def _panel(found: dict[str, Any]) -> dict[str, Any]:
    """Charts of one tag set: count per minute, and p50/p95/p99 per minute."""
    points = sorted(found["points"], key=lambda p: p["minute"])
    times = [p["minute"] for p in points]
    count_chart = charts.bar_chart(
        [charts.Bar(t.strftime("%H:%M"), {"count": float(p["count"])}) for t, p in zip(times, points, strict=True)],
        label="Events per minute",
        series=["count"],
        classes={"count": "series-5"},
        integer=True,
        label_every=max(len(points) // 6, 1),
    )
    lines = {q: [float(p[q]) for p in points] for q in PERCENTILES}
    percentile_chart = charts.line_chart(times, dict(lines), label="p50, p95 and p99 per minute", classes=PERCENTILES)
    tags_text = ", ".join(f"{k}:{v}" for k, v in sorted(found["tags"].items()))
    return {
        "tags_text": tags_text,
        "total": sum(int(p["count"]) for p in points),
        "minutes": len(points),
        "partial": sum(1 for p in points if p["partial"]),
        "last": float(points[-1]["last"]) if points else None,
        "count_chart": svg(count_chart),
        "percentile_chart": svg(percentile_chart),
        "legend": svg(charts.legend(list(PERCENTILES), PERCENTILES)),
    }


@router.get("/stats")
def stats_page(
    request: Request,
    user: User,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    tags: Annotated[str | None, Query(max_length=1000, pattern=r"^[^\x00]*$")] = None,
    minutes: Annotated[int, Query(ge=1, le=1440, description="time range: the last this many minutes")] = 60,
) -> Response:
    """Pick a metric (name + tags) and a time range: count and p50/p95/p99 per minute, one panel per tag set."""
    known = StatsStore().names()
    chosen = name or (known[0]["name"] if known else None)
    tag_keys: list[str] = next((n["tag_keys"] for n in known if n["name"] == chosen), [])
    wanted = [t.strip() for t in (tags or "").split(",") if t.strip()]
    panels: list[dict[str, Any]] = []
    problem = None
    more = 0
    if chosen:
        end = datetime.now(UTC) + timedelta(minutes=1)
        try:
            found = tag_sets(chosen, wanted, end - timedelta(minutes=minutes + 1), end)
        except ApiError as exc:
            problem, found = "; ".join(str(d["msg"]) for d in exc.detail), []
        found.sort(key=lambda f: -sum(int(p["count"]) for p in f["points"]))  # busiest tag sets first
        panels = [_panel(f) for f in found[:MAX_PANELS] if f["points"]]
        more = max(len(found) - MAX_PANELS, 0)
    return render(
        request,
        "stats.html",
        active="stats",
        names=known,
        name=chosen,
        tag_keys=tag_keys,
        tags_text=", ".join(wanted),
        minutes=minutes,
        ranges=RANGES,
        panels=panels,
        problem=problem,
        more=more,
    )


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's stats section: metric names and the roll-up's watermark and lag (shared figures:
    ``scope`` unused)."""
    store = StatsStore()
    watermark = store.watermark()
    lag = (datetime.now(UTC) - watermark).total_seconds() if watermark else None
    return {"names": store.names(), "watermark": watermark, "lag": lag}
