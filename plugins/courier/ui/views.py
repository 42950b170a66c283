"""The wiring of the page routes under ``/courier/ui``: one router per Courier resource (the modules of
:mod:`courier.ui.pages`, and the spec run file server :mod:`courier.ui.files`), each included behind that
resource's ``access(...)`` dependency (read access for these GET pages). Cancelling is done by the page
calling the JSON API (``POST /courier/timers/{id}/cancel``), which refuses a user without edit access whatever
the page shows.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from courier.api.auth import access
from courier.ui import files, render
from courier.ui.pages import jobs, overview, pages, reports, specs, stats, timers

PAGE_ROUTERS: list[tuple[str, APIRouter]] = [
    ("meta", overview.router),
    ("timers", timers.router),
    ("jobs", jobs.router),
    ("stats", stats.router),
    ("reports", reports.router),
    ("pages", pages.router),
    ("specs", specs.router),
    ("specs", files.router),
]
"""(resource, router): each router is included behind ``access(resource)``."""


def install(app: FastAPI) -> None:
    """Include the page routers in the Courier app, each behind its resource's ``access(...)`` dependency."""
    for resource, router in PAGE_ROUTERS:
        app.include_router(router, dependencies=[access(resource)])
        render.ENABLED.add(resource)
