"""``/courier/pages``: read the manifests that ``paginated_fanout`` runs wrote (for the Pages page and clients).

A manifest lives beside its run's report at ``{storage_base}/pages/paginated_fanout/<run id>/manifest.json``
(see :class:`courier.pages.plan.RunLayout`); runs given their own ``storage_base`` param are not listed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from courier.api.errors import ApiError, error_responses
from courier.domains import PAGINATED_FANOUT

router = APIRouter(prefix="/pages", tags=["pages"])

FANOUT_DAG = PAGINATED_FANOUT
MAX_SCANNED = 1000
"""At most this many run folders are read for one listing (newest manifests first)."""


class FailedPage(BaseModel):
    model_config = ConfigDict(extra="allow")
    page: int
    url: str
    error: str


class ManifestSummary(BaseModel):
    """One fan-out run: pages, failures, rows and timings."""

    run_id: str
    status: Literal["success", "failed"]
    reason: str | None = None
    pages: int
    pages_ok: int
    failed_pages: int
    rows: int
    batches: int
    total_seconds: float | None
    fetch_wall_seconds: float | None
    created_at: datetime
    report: str | None = None


class Manifest(BaseModel):
    """A whole manifest as the merge step wrote it (extra keys kept)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["success", "failed"]
    reason: str | None = None
    dag_id: str
    run_id: str
    pages: int
    pages_ok: int
    rows: int
    batches: int
    failed_pages: list[FailedPage]
    missing_batches: list[int] = Field(default_factory=list)
    statuses: dict[str, int] = Field(default_factory=dict)
    timings: dict[str, Any] = Field(default_factory=dict)
    per_batch: list[dict[str, Any]] = Field(default_factory=list)
    report: str | None = None
    created_at: datetime


class ManifestPage(BaseModel):
    manifests: list[ManifestSummary]


def _summary(manifest: dict[str, Any]) -> ManifestSummary:
    timings = manifest.get("timings") or {}
    return ManifestSummary(
        run_id=manifest["run_id"],
        status=manifest["status"],
        reason=manifest.get("reason"),
        pages=manifest["pages"],
        pages_ok=manifest["pages_ok"],
        failed_pages=len(manifest.get("failed_pages") or []),
        rows=manifest["rows"],
        batches=manifest["batches"],
        total_seconds=timings.get("total_seconds"),
        fetch_wall_seconds=timings.get("fetch_wall_seconds"),
        created_at=manifest["created_at"],
        report=manifest.get("report"),
    )


def _runs_folder() -> Any:
    from courier.pages.files import base_url, path_of
    from courier.pages.plan import path_segment

    return path_of(f"{base_url()}/pages/{path_segment(FANOUT_DAG)}")


def list_manifests(status: str | None = None, limit: int = 50) -> list[ManifestSummary]:
    """Manifests of recent fan-out runs, newest first (the function behind the route and the pages)."""
    folder = _runs_folder()
    if not folder.exists():
        return []
    found: list[ManifestSummary] = []
    for index, run_folder in enumerate(folder.iterdir()):
        if index >= MAX_SCANNED:
            break
        path = run_folder / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
            summary = _summary(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a run still in flight (no manifest yet) or not ours
        if status is None or summary.status == status:
            found.append(summary)
    found.sort(key=lambda m: m.created_at, reverse=True)
    return found[:limit]


def read_manifest(run_id: str) -> Manifest | None:
    """The manifest of ``run_id``, or None if that run wrote none (yet)."""
    from courier.pages.files import base_url, path_of
    from courier.pages.plan import RunLayout, path_segment

    if path_segment(run_id) in (".", ".."):  # would name a folder above the run folders
        return None
    path = path_of(RunLayout.for_run(base_url(), FANOUT_DAG, run_id).manifest)
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


@router.get("/manifests", response_model=ManifestPage)
def get_manifests(
    status: Literal["success", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Recent ``paginated_fanout`` runs, newest first: pages, failed pages, rows and timings."""
    return {"manifests": list_manifests(status, limit)}


@router.get("/manifests/{run_id}", response_model=Manifest, responses=error_responses(404))
def get_manifest(run_id: Annotated[str, Path(min_length=1, max_length=250)]) -> Manifest:
    """One run's whole manifest: every failed page with its error, HTTP statuses, per-batch timings."""
    manifest = read_manifest(run_id)
    if manifest is None:
        raise ApiError(
            404,
            f"no manifest for run {run_id!r} (not a paginated_fanout run, or not merged yet)",
            loc=("path", "run_id"),
        )
    return manifest
