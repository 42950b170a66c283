"""Every route of the Courier app requires Airflow authentication (logic test through the app factory)."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from courier.api.app import create_app


def _signed(route: APIRoute) -> bool:
    """Routes documented without a bearer token (``security: []``): a signature in the query is the credential."""
    return (route.openapi_extra or {}).get("security") == []


def _routes(signed: bool = False) -> list[tuple[str, str]]:
    app = create_app()
    found = []
    for route in app.routes:
        if isinstance(route, APIRoute) and _signed(route) == signed:
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


@pytest.mark.parametrize(("method", "path"), _routes(signed=True))
def test_signed_route_refuses_a_request_without_its_signature(method: str, path: str) -> None:
    response = TestClient(create_app()).request(method, path)
    assert response.status_code in (403, 422), f"{method} {path} answered {response.status_code} unsigned"


def test_forged_token_is_refused() -> None:
    from airflow.api_fastapi.app import init_auth_manager

    init_auth_manager()  # the API server does this at start-up; token checks need it
    client = TestClient(create_app())
    response = client.get("/health", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code in (401, 403)
