"""The specs pages: the latest ``spec_matrix`` runs, and one run's matrix (its files are served by
:mod:`courier.ui.spec_files`)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from courier.api.auth import Who
from courier.api.ids import PathId
from courier.specs.api import no_run, run_detail, run_summaries
from courier.specs.models import RunOut
from courier.ui import charts
from courier.ui.render import render, svg
from courier.ui.screens.common import User, page_router

router = page_router()

CELL_MARKS = {"passed": "✓", "failed": "✗", "flaky": "⚑", "skipped": "○", "queued": "…", "running": "▶"}
TONES = {
    s: f"tone-{t}"
    for s, t in (
        ("passed", "success"),
        ("failed", "failed"),
        ("flaky", "warning"),
        ("skipped", "muted"),
        ("queued", "queued"),
        ("running", "running"),
    )
}


def spec_matrix(run: RunOut) -> dict[str, Any]:
    """The run's cells as a spec x (browser, viewport) grid, plus a duration chart; a missing cell was filtered."""
    columns = sorted({(c.browser, c.viewport) for c in run.cells})
    browsers: list[tuple[str, int]] = []
    for browser, _ in columns:
        if browsers and browsers[-1][0] == browser:
            browsers[-1] = (browser, browsers[-1][1] + 1)
        else:
            browsers.append((browser, 1))
    spec_ids = sorted({c.spec_id for c in run.cells})
    grid = {(c.spec_id, c.browser, c.viewport): c for c in run.cells}
    rows = [(spec, [grid.get((spec, b, v)) for b, v in columns]) for spec in spec_ids]
    timed = sorted((c for c in run.cells if c.duration_ms is not None), key=lambda c: c.seq)
    bars = [charts.Bar(f"{c.spec_id[:10]}", {c.status: (c.duration_ms or 0) / 1000}, tip=c.name) for c in timed]
    chart = charts.bar_chart(
        bars,
        label="Duration per cell, in queue order (seconds)",
        series=list(TONES),
        classes=TONES,
        y_unit=" s",
        label_every=max(len(bars) // 10, 1),
    )
    return {
        "columns": columns,
        "browsers": browsers,
        "rows": rows,
        "marks": CELL_MARKS,
        "problems": [c for c in run.cells if c.status in ("failed", "flaky")],
        "total_seconds": sum(c.duration_ms or 0 for c in run.cells) / 1000,
        "duration_chart": svg(chart) if bars else None,
        "duration_legend": svg(charts.legend([s for s in TONES if any(c.status == s for c in timed)], TONES)),
        "filtered_total": sum((run.filtered or {}).values()),
    }


@router.get("/specs")
def specs_page(request: Request, user: User, who: Who) -> Response:
    """The latest spec_matrix runs (the user's own, every run with full access) with their cells counted by
    outcome."""
    return render(request, "specs.html", active="specs", runs=run_summaries(50, who.scope))


@router.get("/specs/{run_id}")
def spec_run_page(request: Request, user: User, who: Who, run_id: PathId) -> Response:
    """One spec_matrix run: the matrix coloured by outcome, flaky cells marked, durations, artifacts."""
    run = run_detail(run_id, who.scope)
    if run is None:
        raise no_run(run_id)
    return render(request, "spec_run.html", active="specs", run=run, **spec_matrix(run))


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's specs section: the recent runs (those ``scope`` triggered; every run for None)."""
    return {"recent": run_summaries(5, scope)}


def run_tab(dag_id: str, run_id: str, scope: str | None) -> dict[str, Any]:
    """A ``spec_matrix`` run's tab: its matrix (None until the plan task has queued the run, or when ``scope``,
    not None, did not trigger it)."""
    run = run_detail(run_id, scope)
    return {"spec_run": run, **(spec_matrix(run) if run is not None else {})}
