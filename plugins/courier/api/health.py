"""``GET /courier/health``: is the Courier database reachable and migrated, and which version runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from courier import __version__

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
    except Exception as exc:
        return DatabaseHealth(reachable=False, schema_version=None, latest_schema_version=latest, error=str(exc)[:300])
    return DatabaseHealth(reachable=True, schema_version=current, latest_schema_version=latest)


@router.get("/health", response_model=Health)
def health() -> dict[str, Any]:
    """Report database reachability, schema version and package version."""
    database = _database_health()
    healthy = database.reachable and database.schema_version == database.latest_schema_version
    return {"status": "healthy" if healthy else "unhealthy", "version": __version__, "database": database}
