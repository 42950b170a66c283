"""The pages (fan-out) pages: recent ``paginated_fanout`` runs from their manifests, and one run's manifest."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import Request, Response

from courier.api.errors import ApiError
from courier.api.ids import PathId
from courier.pages.api import Manifest, list_manifests, read_manifest
from courier.ui import charts
from courier.ui.render import render, svg
from courier.ui.screens.common import User, page_router, timeline

router = page_router()

TONES = {"fetch": "series-0", "other": "series-4"}


@router.get("/pages")
def pages_page(request: Request, user: User, status: Literal["success", "failed"] | None = None) -> Response:
    """Recent fan-out runs from their manifests: pages, failed pages, rows, timings."""
    manifests, _ = list_manifests(status, 50)
    bars = [
        charts.Bar(
            m.created_at.strftime("%H:%M"),
            {
                "fetch": m.fetch_wall_seconds or 0.0,
                "other": max((m.total_seconds or 0.0) - (m.fetch_wall_seconds or 0.0), 0.0),
            },
            tip=m.run_id,
        )
        for m in reversed(manifests[:30])
    ]
    return render(
        request,
        "pages.html",
        active="pages",
        manifests=manifests,
        status=status,
        **timeline(bars, label="Seconds per fan-out run: fetching pages, and everything else", classes=TONES),
    )


def manifest_charts(manifest: Manifest | None) -> dict[str, Any]:
    """The per-batch timing chart of a run's manifest (for its page and the run tab)."""
    if manifest is None or not manifest.per_batch:
        return {"batch_chart": None}
    bars = [
        charts.Bar(str(b.get("index", i)), {"seconds": float(b.get("seconds") or 0.0)}, tip=str(b.get("label", "")))
        for i, b in enumerate(manifest.per_batch)
    ]
    chart = charts.bar_chart(
        bars, label="Seconds per batch", series=["seconds"], y_unit=" s", label_every=max(len(bars) // 16, 1)
    )
    return {"batch_chart": svg(chart)}


@router.get("/pages/{run_id}")
def manifest_page(request: Request, user: User, run_id: PathId) -> Response:
    """One fan-out run's manifest: failed pages with their errors, HTTP statuses, per-batch timings."""
    manifest = read_manifest(run_id)
    if manifest is None:
        raise ApiError(404, f"No manifest for run {run_id!r}: not a paginated_fanout run, or it has not merged yet.")
    return render(request, "manifest.html", active="pages", manifest=manifest, **manifest_charts(manifest))


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's pages section: the recent fan-out manifests (manifests have no creator: ``scope`` unused)."""
    return {"recent": list_manifests(limit=5)[0]}


def run_tab(dag_id: str, run_id: str, scope: str | None) -> dict[str, Any]:
    """A fan-out run's tab: its manifest and charts."""
    manifest = read_manifest(run_id)
    return {"manifest": manifest, **manifest_charts(manifest)}
