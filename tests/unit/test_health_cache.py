"""``GET /courier/health`` stays cheap under load: one database check a second at most, off the request."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from courier.api import health
from tests.helpers import api_app


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    made: list[float] = []

    def check() -> health.DatabaseHealth:
        made.append(time.monotonic())
        return health.DatabaseHealth(reachable=True, schema_version=len(made), latest_schema_version=len(made))

    monkeypatch.setattr(health, "_database_health", check)
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql://health-test/a")
    monkeypatch.setattr(health, "_checked", None)  # the module's cached check: none yet (restored afterwards)
    yield made


def test_probes_within_a_second_share_one_check_then_it_is_refreshed_in_the_background(
    checks: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "FRESH", 60.0)  # however slow this machine is, the 20 probes fall within it
    client = TestClient(api_app("viewer"))
    answers = [client.get("/health").json() for _ in range(20)]
    assert len(checks) == 1 and {a["database"]["schema_version"] for a in answers} == {1}
    assert answers[0]["status"] == "healthy"

    monkeypatch.setattr(health, "FRESH", 0.0)  # the last check is now old: answered from it, refreshed meanwhile
    assert client.get("/health").json()["database"]["schema_version"] == 1
    deadline = time.monotonic() + 30
    while len(checks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    monkeypatch.setattr(health, "FRESH", 60.0)
    assert len(checks) == 2 and client.get("/health").json()["database"]["schema_version"] == 2


def test_a_changed_database_url_is_checked_at_once(checks: list[float], monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(api_app("viewer"))
    client.get("/health")
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql://health-test/b")
    assert client.get("/health").json()["database"]["schema_version"] == 2 and len(checks) == 2
