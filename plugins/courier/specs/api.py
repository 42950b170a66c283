"""``/courier/specs``: spec runs and their cells, for the UI (read only; authorization by ``access("specs")``)."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Query

from courier.api.auth import Who
from courier.api.errors import ApiError, error_responses
from courier.api.ids import PathId
from courier.specs.models import AttemptOut, CellOut, RunOut, RunPage, RunSummary
from courier.specs.report import artifact_prefix
from courier.specs.store import SpecQueue

router = APIRouter(prefix="/specs", tags=["specs"])


def _summary(run: dict[str, Any], by_status: dict[str, int]) -> dict[str, Any]:
    return {
        "run_id": run["run_id"],
        "spec_list": run["spec_list"],
        "base_url": run["base_url"],
        "rerun_of": run["rerun_of"],
        "created_at": run["created_at"],
        "finished_at": run["finished_at"],
        "report_url": run["report_url"],
        "by_status": by_status,
        "filtered": run["filtered"] or {},
        "counts": run["counts"],
    }


def run_summaries(limit: int = 50, visible_to: str | None = None) -> list[RunSummary]:
    """The latest spec runs (only those ``visible_to`` triggered, unless None), newest first, with their cells
    counted by status (the route's and the pages')."""
    return [RunSummary(**_summary(r, dict(r["by_status"]))) for r in SpecQueue().list_runs(limit, visible_to)]


def run_detail(run_id: str, visible_to: str | None = None) -> RunOut | None:
    """One spec run with every cell in queue order (the route's and the pages'); None if there is no such run
    (or ``visible_to``, when not None, did not trigger it)."""
    queue = SpecQueue()
    run = queue.get_run(run_id, visible_to)
    if run is None:
        return None
    cells = queue.cells(run_id)
    by_status = dict(Counter(c["status"] for c in cells))
    return RunOut(
        **_summary(run, by_status),
        cells=[
            CellOut(
                name=f"{c['spec_id']} [{c['browser']}/{c['viewport']}]",
                spec_id=c["spec_id"],
                browser=c["browser"],
                viewport=c["viewport"],
                viewport_size=f"{c['width']}x{c['height']}",
                status=c["status"],
                seq=c["seq"],
                expected_ms=c["expected_ms"],
                duration_ms=c["duration_ms"],
                exit_code=c["exit_code"],
                timed_out=c["timed_out"],
                reason=c["reason"],
                output_tail=c["output_tail"],
                artifacts=list(c["artifacts"]),
                artifacts_path=artifact_prefix(c["spec_id"], c["browser"], c["viewport"]),
                attempts=[AttemptOut(**a) for a in c["attempts"]],
            )
            for c in cells
        ],
    )


def no_run(run_id: str) -> ApiError:
    """The 404 of a run id no spec run has."""
    return ApiError(404, f"no spec run {run_id!r}", loc=("path", "run_id"))


@router.get("/runs", response_model=RunPage)
def list_runs(
    who: Who, limit: Annotated[int, Query(ge=1, le=200, description="most runs, newest first")] = 50
) -> RunPage:
    """The latest spec runs (those you triggered; every run with full access), newest first, with their cells
    counted by status."""
    return RunPage(runs=run_summaries(limit, who.scope))


@router.get("/runs/{run_id}", response_model=RunOut, responses=error_responses(404))
def get_run(run_id: PathId, who: Who) -> RunOut:
    """One spec run: every cell in queue order with its status, reason, output tail, artifacts and attempts."""
    run = run_detail(run_id, who.scope)
    if run is None:
        raise no_run(run_id)
    return run
