"""``GET /courier/health``: is the Courier database reachable and migrated, and which version runs."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from courier import __version__
from courier.api.errors import logged_reference

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"])


class DatabaseHealth(BaseModel):
    reachable: bool
    schema_version: int | None
    latest_schema_version: int
    error: str | None = None


class Health(BaseModel):
    status: str
    version: str
    database: DatabaseHealth


def _database_health() -> DatabaseHealth:
    from courier.db import migrate as db_migrate
    from courier.db.hook import CourierDbHook

    latest = db_migrate.latest_version()
    try:
        with CourierDbHook().get_conn() as conn:
            current = db_migrate.current_version(conn)
    except Exception:
        error = logged_reference(log, "the Courier database check failed")
        return DatabaseHealth(reachable=False, schema_version=None, latest_schema_version=latest, error=error)
    return DatabaseHealth(reachable=True, schema_version=current, latest_schema_version=latest)


FRESH = 1.0
"""Seconds a database check is answered from memory; an older one is refreshed in the background."""
STALE = 30.0
"""Past this age the request waits for a new check instead."""
_checked: tuple[float, str | None, DatabaseHealth] | None = None
"""When, for which ``COURIER_DATABASE_URL``, and what the last check found."""
_refreshing = threading.Lock()


def _refresh() -> DatabaseHealth:
    global _checked
    with _refreshing:
        url = os.environ.get("COURIER_DATABASE_URL")
        if _checked is None or _checked[1] != url or time.monotonic() - _checked[0] > FRESH:
            _checked = (time.monotonic(), url, _database_health())
        return _checked[2]


def _refresh_in_background() -> None:
    if not _refreshing.locked():
        threading.Thread(target=_refresh, name="courier-health", daemon=True).start()


@router.get("/health", response_model=Health)
async def health() -> dict[str, Any]:
    """Report database reachability, schema version and package version.

    Cheap under any load: the database check (a connection lookup and a connect) runs at most once a second,
    off the event loop; requests in between answer from that check without a thread or a round trip.
    """
    checked = _checked
    age = time.monotonic() - checked[0] if checked else STALE + 1
    if checked is None or checked[1] != os.environ.get("COURIER_DATABASE_URL") or age > STALE:
        database = await run_in_threadpool(_refresh)
    else:
        if age > FRESH:
            _refresh_in_background()
        database = checked[2]
    healthy = database.reachable and database.schema_version == database.latest_schema_version
    return {"status": "healthy" if healthy else "unhealthy", "version": __version__, "database": database}
