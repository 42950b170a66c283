"""The Courier FastAPI app, mounted by the plugin at ``/courier`` inside Airflow's API server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI

from courier import __version__
from courier.api.auth import authenticated


def create_app() -> FastAPI:
    """Build the app; every route, the OpenAPI document included, requires Airflow authentication."""
    from courier.api import health
    from courier.timers import api as timers_api

    # FastAPI's own /openapi.json and /docs would be anonymous: turn them off and serve the
    # document from an authenticated route instead (GET /courier/openapi.json with a bearer token).
    app = FastAPI(
        title="Courier",
        version=__version__,
        description="Reliable HTTP work on Apache Airflow 3. Authenticate with a bearer token from POST /auth/token.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    guard = [authenticated()]
    app.include_router(health.router, dependencies=guard)
    app.include_router(timers_api.router, dependencies=guard)

    meta = APIRouter(tags=["meta"])

    @meta.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return app.openapi()

    app.include_router(meta, dependencies=guard)
    return app
