"""The wiring of the page routes under ``/courier/ui``: one router per Courier resource — the overview
(:mod:`courier.ui.screens.overview`), each domain's page (``Domain.page`` in :mod:`courier.domains`), and the
spec run file server :mod:`courier.ui.spec_files` — each included behind that resource's ``access(...)``
dependency (read access for these GET pages). Cancelling is done by the page calling the JSON API
(``POST /courier/timers/{id}/cancel``), which refuses a user without edit access whatever the page shows.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from courier import domains
from courier.api.auth import access
from courier.ui import render, spec_files
from courier.ui.screens import overview


def page_routers() -> list[tuple[str, APIRouter]]:
    """(resource, router): each router is included behind ``access(resource)``."""
    routers: list[tuple[str, APIRouter]] = [("meta", overview.router)]
    routers += [(d.resource, domains.load(d.page)) for d in domains.DOMAINS if d.page]
    routers.append(("specs", spec_files.router))  # a spec run's files: read access to specs, like its page
    return routers


def install(app: FastAPI) -> None:
    """Include the page routers in the Courier app, each behind its resource's ``access(...)`` dependency."""
    for resource, router in page_routers():
        app.include_router(router, dependencies=[access(resource)])
        render.ENABLED.add(resource)
