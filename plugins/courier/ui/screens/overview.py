"""The overview (what is happening now, per domain the user may read), the README page, and the "Courier" tab
of a DAG run's page in Airflow."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Request, Response

from courier import domains
from courier.api.auth import caller_for, is_allowed
from courier.api.errors import ApiError, logged_reference
from courier.ui.readme import readme_html
from courier.ui.render import render, svg
from courier.ui.screens.common import User, page_router

log = logging.getLogger(__name__)
router = page_router()


def readable(user: Any) -> dict[str, bool]:
    """Which Courier domains ``user`` may read (the overview shows only those)."""
    return {d.resource: is_allowed(user, d.resource, "GET") for d in domains.DOMAINS}


def sections() -> dict[str, Callable[[str | None], dict[str, Any]]]:
    """Per domain, what its overview section shows (in overview order: the registry's), given whose objects the
    user sees (None: every object, full access)."""
    return {d.resource: domains.load(d.overview) for d in domains.DOMAINS if d.overview}


@router.get("")
@router.get("/")
def overview_page(request: Request, user: User) -> Response:
    """Per domain: what is happening now and what went wrong recently."""
    allowed = readable(user)
    shown: dict[str, Any] = {}
    problems: dict[str, str] = {}
    loaders = sections()
    for resource, load in loaders.items():
        if not allowed.get(resource):
            continue
        try:
            shown[resource] = load(caller_for(user, resource).scope)
        except Exception:  # one unavailable domain must not blank the whole dashboard
            problems[resource] = logged_reference(log, f"the {resource} overview failed")
    # each card is the template _overview_<resource>.html
    return render(
        request,
        "overview.html",
        active="overview",
        order=list(loaders),
        sections=shown,
        problems=problems,
        allowed=allowed,
    )


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
    domain = domains.by_dag(dag_id)
    resource = domain.resource if domain else None
    if domain is not None and not is_allowed(user, domain.resource, "GET"):
        raise ApiError(403, f"reading Courier {domain.resource} needs read access to the Airflow DAG {dag_id!r}")
    context: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "resource": resource, "embedded": True}
    if domain is not None and domain.run_tab and dag_id == domain.dag_id:
        scope = caller_for(user, domain.resource).scope
        context.update(domains.load(domain.run_tab)(dag_id, run_id, scope))
    return render(request, "run.html", active="", **context)
