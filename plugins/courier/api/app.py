"""The Courier FastAPI app, mounted by the plugin at ``/courier`` inside Airflow's API server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from courier import __version__
from courier.api import errors
from courier.api.auth import access

OPENAPI_SERVER = "/courier"
"""Where the app is mounted: the document's server URL, so generated clients and fuzzers call the right paths."""


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
    errors.install(app)
    common = errors.error_responses(*errors.DEFAULT_RESPONSES)
    app.include_router(health.router, dependencies=[access("health")], responses=common)
    app.include_router(timers_api.router, dependencies=[access("timers")], responses=common)

    meta = APIRouter(tags=["meta"])

    @meta.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return openapi_document(app)

    app.include_router(meta, dependencies=[access("meta")])
    return app


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document of ``app``, with the server it is mounted at and Airflow's bearer auth declared."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            servers=[{"url": OPENAPI_SERVER}],
        )
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {})["AirflowBearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token from Airflow's POST /auth/token.",
        }
        document["security"] = [{"AirflowBearer": []}]
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict):
                    operation.pop("security", None)  # Airflow's own OAuth2 form entries: one scheme instead
        components.get("securitySchemes", {}).pop("OAuth2PasswordBearer", None)
        components.get("securitySchemes", {}).pop("HTTPBearer", None)
        app.openapi_schema = document
    return app.openapi_schema
