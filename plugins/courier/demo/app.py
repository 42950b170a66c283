"""Build the demo upstream app from the domain routers listed in :data:`ROUTER_MODULES`."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

# Each module defines ``router`` (a FastAPI APIRouter) and optionally ``reset()`` for tests.
ROUTER_MODULES: list[str] = [
    "courier.demo.paged_api",
    "courier.demo.report_api",
    "courier.demo.receiver",
    "courier.demo.spec_site",
    "courier.demo.processor",
]


def create_app(modules: list[str] | None = None) -> FastAPI:
    """Return the demo app with the given (default: all) domain routers mounted at the root."""
    app = FastAPI(title="Courier demo upstream", docs_url=None, redoc_url=None)
    for name in ROUTER_MODULES if modules is None else modules:
        app.include_router(importlib.import_module(name).router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
