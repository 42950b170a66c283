"""The overview (what is happening now, per domain the user may read), the README page, and the "Courier" tab
of a DAG run's page in Airflow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response

from courier.api.auth import RESOURCES, caller_for, is_allowed
from courier.api.errors import ApiError, logged_reference
from courier.db.hook import pooled
from courier.jobs.rules import Status as JobStatus
from courier.jobs.store import JobStore
from courier.pages.api import list_manifests, read_manifest
from courier.reports.api import list_collections, summary
from courier.specs.api import run_detail, run_summaries
from courier.stats.store import StatsStore
from courier.ui.insights import jobs_insight, timers_insight
from courier.ui.pages.common import User, page_router
from courier.ui.pages.pages import manifest_charts
from courier.ui.pages.specs import spec_matrix
from courier.ui.readme import readme_html
from courier.ui.render import render, svg

log = logging.getLogger(__name__)
router = page_router()

DAG_PAGES: dict[str, str] = {dag_id: resource for resource, dag_id in RESOURCES.items() if dag_id}
"""Airflow DAG id -> the Courier resource (and page) that shows its runs."""


def readable(user: Any) -> dict[str, bool]:
    """Which Courier resources ``user`` may read (the overview shows only those)."""
    return {resource: is_allowed(user, resource, "GET") for resource, dag in RESOURCES.items() if dag}


def _timers(scope: str | None) -> dict[str, Any]:
    return {"insight": timers_insight(60, scope)}


def _reports(scope: str | None) -> dict[str, Any]:
    recent, _ = list_collections(limit=5, visible_to=scope)
    failed, _ = list_collections(status="failed", limit=3, visible_to=scope)
    return {"summary": summary(24), "recent": recent, "failed": failed}


def _pages(scope: str | None) -> dict[str, Any]:
    return {"recent": list_manifests(limit=5)}


def _jobs(scope: str | None) -> dict[str, Any]:
    failed, _ = JobStore(pooled()).page(JobStatus.FAILED, None, 3, None, scope)
    return {"insight": jobs_insight(6), "failed": failed}


def _stats(scope: str | None) -> dict[str, Any]:
    store = StatsStore()
    watermark = store.watermark()
    lag = (datetime.now(UTC) - watermark).total_seconds() if watermark else None
    return {"names": store.names(), "watermark": watermark, "lag": lag}


def _specs(scope: str | None) -> dict[str, Any]:
    return {"recent": run_summaries(5, scope)}


SECTIONS: dict[str, Callable[[str | None], dict[str, Any]]] = {
    "timers": _timers,
    "reports": _reports,
    "pages": _pages,
    "specs": _specs,
    "jobs": _jobs,
    "stats": _stats,
}
"""Per resource, what its overview section shows (in this order), given whose objects the user sees (None: all)."""


@router.get("")
@router.get("/")
def overview_page(request: Request, user: User) -> Response:
    """Per domain: what is happening now and what went wrong recently."""
    allowed = readable(user)
    sections: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for resource, load in SECTIONS.items():
        if not allowed.get(resource):
            continue
        try:
            sections[resource] = load(caller_for(user, resource).scope)
        except Exception:  # one unavailable domain must not blank the whole dashboard
            problems[resource] = logged_reference(log, f"the {resource} overview failed")
    return render(request, "overview.html", active="overview", sections=sections, problems=problems, allowed=allowed)


@router.get("/docs")
def docs_page(request: Request, user: User) -> Response:
    """The README, rendered (empty states link to its sections; works offline inside the iframe)."""
    return render(request, "docs.html", active="", body=svg(readme_html()))


@router.get("/run")
def run_tab(
    request: Request,
    user: User,
    dag_id: Annotated[str, Query(min_length=1, max_length=250)],
    run_id: Annotated[str, Query(min_length=1, max_length=250)],
) -> Response:
    """The "Courier" tab of a DAG run's page in Airflow: what Courier knows about that run."""
    resource = DAG_PAGES.get(dag_id)
    if resource is not None and not is_allowed(user, resource, "GET"):
        raise ApiError(403, f"reading Courier {resource} needs read access to the Airflow DAG {dag_id!r}")
    context: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "resource": resource, "embedded": True}
    scope = caller_for(user, resource).scope if resource is not None else None
    if dag_id == RESOURCES["reports"]:
        context["collections"], _ = list_collections(dag_id=dag_id, run_id=run_id, limit=100, visible_to=scope)
    elif dag_id == RESOURCES["pages"]:
        context["manifest"] = read_manifest(run_id)
        context.update(manifest_charts(context["manifest"]))
    elif dag_id == RESOURCES["specs"]:
        context["spec_run"] = run_detail(run_id, scope)  # None: not queued yet (or not the user's run)
        if context["spec_run"] is not None:
            context.update(spec_matrix(context["spec_run"]))
    return render(request, "run.html", active="", **context)
