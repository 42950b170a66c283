"""Build the demo upstream app from the domains' demo routers (``Domain.demo`` in :mod:`courier.domains`)."""

from __future__ import annotations

import importlib

from fastapi import FastAPI

from courier import domains


def router_modules() -> list[str]:
    """Every domain's demo modules; each defines ``router`` (a FastAPI APIRouter), optionally ``reset()`` for tests."""
    return [module for domain in domains.DOMAINS for module in domain.demo]


def create_app(modules: list[str] | None = None) -> FastAPI:
    """Return the demo app with the given (default: all) domain routers mounted at the root."""
    app = FastAPI(title="Courier demo upstream", docs_url=None, redoc_url=None)
    for name in router_modules() if modules is None else modules:
        app.include_router(importlib.import_module(name).router)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
