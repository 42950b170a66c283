"""``/courier/pages``: read the manifests that ``paginated_fanout`` runs wrote (for the Pages page and clients).

A manifest lives beside its run's report at ``{storage_base}/pages/paginated_fanout/<run id>/manifest.json``
(see :class:`courier.pages.batching.RunLayout`); runs given their own ``storage_base`` param are not listed.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from courier.api.errors import ApiError, error_responses
from courier.api.ids import Cursor, PathId
from courier.domains import PAGINATED_FANOUT

router = APIRouter(prefix="/pages", tags=["pages"])

FANOUT_DAG = PAGINATED_FANOUT
MAX_READS = 200
"""At most this many manifests are read for one listing page (a page with a status filter that found fewer
matches says where to go on with ``next_cursor``)."""


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
    next_cursor: str | None = Field(description="Pass it back as cursor for the next (older) runs; null at the end.")


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
    from courier.pages.batching import path_segment
    from courier.pages.storing import base_url, path_of

    return path_of(f"{base_url()}/pages/{path_segment(FANOUT_DAG)}")


def _run_order(folder_name: str) -> tuple[float, str]:
    """Where a run folder sorts, newest first: the time in its run id (``manual__2026-12-07T12:00:00+00:00``),
    then its name; a run id without a time sorts after those with one."""
    try:
        started = datetime.fromisoformat(folder_name.rpartition("__")[2])
        stamp = (started if started.tzinfo else started.replace(tzinfo=UTC)).timestamp()
    except ValueError:
        stamp = float("-inf")
    return stamp, folder_name


def _cursor_of(folder_name: str) -> str:
    return base64.urlsafe_b64encode(folder_name.encode()).decode()


def _folder_of(cursor: str) -> str:
    try:
        name = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        name = ""
    if not name or "/" in name or "\x00" in name:
        raise ApiError(422, "cursor is not one this API handed out", loc=("query", "cursor"))
    return name


def list_manifests(
    status: str | None = None, limit: int = 50, cursor: str | None = None
) -> tuple[list[ManifestSummary], str | None]:
    """Manifests of fan-out runs, newest first, and the cursor of the next page (None at the end): the run
    folders are listed by name (one listing) and sorted by the time in their run ids; only the manifests of
    this page are read, :data:`MAX_READS` at most (the function behind the route and the pages)."""
    folder = _runs_folder()
    if not folder.exists():
        return [], None
    order = sorted((_run_order(p.name) for p in folder.iterdir()), reverse=True)
    if cursor is not None:
        after = _run_order(_folder_of(cursor))
        order = [key for key in order if key < after]
    found: list[ManifestSummary] = []
    read = 0
    for read, (_, name) in enumerate(order, start=1):
        try:
            manifest = json.loads((folder / name / "manifest.json").read_text(encoding="utf-8"))
            summary = _summary(manifest)
        except (OSError, ValueError, KeyError, TypeError):
            summary = None  # a run still in flight (no manifest yet) or not ours
        if summary is not None and (status is None or summary.status == status):
            found.append(summary)
        if len(found) >= limit or read >= MAX_READS:
            break
    more = read < len(order)
    return found, (_cursor_of(order[read - 1][1]) if more else None)


def read_manifest(run_id: str) -> Manifest | None:
    """The manifest of ``run_id``, or None if that run wrote none (yet)."""
    from courier.pages.batching import RunLayout, path_segment
    from courier.pages.storing import base_url, path_of

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
    limit: Annotated[int, Query(ge=1, le=MAX_READS)] = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Recent ``paginated_fanout`` runs, newest first: pages, failed pages, rows and timings. At most
    ``limit`` (200) a page and 200 manifests read per call; ``next_cursor`` gives the next (older) page, and
    may come with fewer than ``limit`` runs when a ``status`` filter skipped many."""
    manifests, next_cursor = list_manifests(status, limit, cursor)
    return {"manifests": manifests, "next_cursor": next_cursor}


@router.get("/manifests/{run_id}", response_model=Manifest, responses=error_responses(404))
def get_manifest(run_id: PathId) -> Manifest:
    """One run's whole manifest: every failed page with its error, HTTP statuses, per-batch timings."""
    manifest = read_manifest(run_id)
    if manifest is None:
        raise ApiError(
            404,
            f"no manifest for run {run_id!r} (not a paginated_fanout run, or not merged yet)",
            loc=("path", "run_id"),
        )
    return manifest
