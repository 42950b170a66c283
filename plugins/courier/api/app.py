"""The Courier FastAPI app, mounted by the plugin at ``/courier`` inside Airflow's API server."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi

from courier import __version__
from courier.api import errors
from courier.api.auth import access
from courier.api.bodies import add_body_schemas, check_routes

OPENAPI_SERVER = "/courier"
"""Where the app is mounted: the document's server URL, so generated clients and fuzzers call the right paths."""


def create_app() -> FastAPI:
    """Build the app; every route, the OpenAPI document included, requires Airflow authentication."""
    from courier import domains
    from courier.api import health
    from courier.jobs import api as jobs_api
    from courier.ui import views as ui_views

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
    for domain in domains.DOMAINS:  # each domain's JSON routers, behind its resource's access(...)
        for reference in domain.routers:
            app.include_router(domains.load(reference), dependencies=[access(domain.resource)], responses=common)
    # The one route without a bearer token: the processor GETs a pushed file with an expiring HMAC signature.
    app.include_router(jobs_api.files_router, responses=errors.error_responses(403, 404, 422, 503))
    ui_views.install(app)  # HTML pages under /ui, each router behind its resource's access(...)

    meta = APIRouter(tags=["meta"])

    @meta.get("/openapi.json", include_in_schema=False)
    def openapi() -> dict[str, Any]:
        return openapi_document(app)

    app.include_router(meta, dependencies=[access("meta")])
    check_routes(app)  # no route may have its body read before access(...) has run
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
        add_body_schemas(components)  # bodies read after authentication (courier.api.bodies.json_body)
        components.setdefault("securitySchemes", {})["AirflowBearer"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token from Airflow's POST /auth/token.",
        }
        document["security"] = [{"AirflowBearer": []}]
        for path_item in document.get("paths", {}).values():
            for operation in path_item.values():
                if isinstance(operation, dict) and "requestBody" in operation:
                    # a body that is not well-formed JSON is a 400 (errors.install), on every route that takes one
                    operation["responses"]["400"] = {
                        "description": errors.error_responses(400)[400]["description"],
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                    }
                if isinstance(operation, dict) and operation.get("security"):
                    operation.pop("security")  # Airflow's own OAuth2 form entries: one scheme instead
                # an explicit empty list stays: that operation takes no bearer token (the signed file URL)
        components.get("securitySchemes", {}).pop("OAuth2PasswordBearer", None)
        components.get("securitySchemes", {}).pop("HTTPBearer", None)
        app.openapi_schema = document
    return app.openapi_schema
