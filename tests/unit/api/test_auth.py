"""Every route of the Courier app requires Airflow authentication (logic test through the app factory)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager
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


class ThreadRecordingAuthManager(SimpleAuthManager):  # type: ignore[misc]
    """Airflow's simple auth manager, noting the thread each authorization runs in (any auth manager other
    than SimpleAuthManager itself is assumed to do I/O)."""

    threads: list[str] = []

    def is_authorized_dag(self, **kwargs: Any) -> bool:
        self.threads.append(threading.current_thread().name)
        return bool(super().is_authorized_dag(**kwargs))


@pytest.fixture
def recording_auth_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import airflow.api_fastapi.app as app_module

    def forget() -> None:  # Airflow's cached auth manager: a holder class from 3.2, a module global in 3.1
        if hasattr(app_module, "_AuthManagerState"):
            app_module._AuthManagerState.instance = None
        else:
            app_module.auth_manager = None

    monkeypatch.setenv("AIRFLOW__CORE__AUTH_MANAGER", f"{__name__}.ThreadRecordingAuthManager")
    forget()
    yield
    forget()  # the next test initialises Airflow's own again


def test_authorization_runs_on_the_event_loop_only_when_the_auth_manager_needs_no_io() -> None:
    from airflow.api_fastapi.app import init_auth_manager

    from courier.api.auth import answers_in_memory

    init_auth_manager()
    assert answers_in_memory()  # SimpleAuthManager: roles in the token, no thread-pool hop per request


def test_an_auth_manager_that_may_do_io_is_asked_in_a_worker_thread(recording_auth_manager: None) -> None:
    from courier.api.auth import answers_in_memory
    from tests.helpers import api_app

    viewer = TestClient(api_app("viewer"))
    assert not answers_in_memory()
    assert viewer.post("/jobs/job_x/cancel").status_code == 403  # still refused: edit access needed
    assert ThreadRecordingAuthManager.threads and all(
        name != threading.main_thread().name and "AnyIO" in name for name in ThreadRecordingAuthManager.threads
    ), ThreadRecordingAuthManager.threads
