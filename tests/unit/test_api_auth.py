"""Every route of the Courier app requires Airflow authentication (logic test through the app factory)."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from courier.api.app import create_app


def _routes() -> list[tuple[str, str]]:
    app = create_app()
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                found.append((method, route.path.replace("{", "").replace("}", "")))
    return found


def test_app_has_health_and_openapi() -> None:
    paths = {path for _, path in _routes()}
    assert {"/health", "/openapi.json"} <= paths


@pytest.mark.parametrize(("method", "path"), _routes())
def test_route_refuses_anonymous(method: str, path: str) -> None:
    client = TestClient(create_app())
    response = client.request(method, path)
    assert response.status_code == 401, f"{method} {path} answered {response.status_code} without a token"


def test_forged_token_is_refused() -> None:
    from airflow.api_fastapi.app import init_auth_manager

    init_auth_manager()  # the API server does this at start-up; token checks need it
    client = TestClient(create_app())
    response = client.get("/health", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code in (401, 403)
