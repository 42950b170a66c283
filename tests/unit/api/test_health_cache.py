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
    monkeypatch.setattr(health, "_domain_parts", lambda database: {"database": health.part("database", [])})
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


# ---------------------------------------------------------------------- what each part reports, and the 503


def _parts(monkeypatch: pytest.MonkeyPatch, **problems: list[str]) -> None:
    def domain_parts(database: health.DatabaseHealth) -> dict[str, health.PartHealth]:
        names = ("database", "timers", "jobs", "stats", "retention")
        return {name: health.part(name, problems.get(name, [])) for name in names}

    monkeypatch.setattr(health, "_domain_parts", domain_parts)


@pytest.mark.parametrize("broken", ["database", "timers", "jobs"])
def test_a_part_that_accepts_work_unhealthy_is_a_503_naming_it(
    checks: list[float], monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    _parts(monkeypatch, **{broken: [f"{broken} is broken"]})
    answer = TestClient(api_app("viewer")).get("/health")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unhealthy" and body["unhealthy"] == [broken]
    assert body["parts"][broken] == {
        **body["parts"][broken],
        "status": "unhealthy",
        "problems": [f"{broken} is broken"],
    }
    assert all(p["status"] == "healthy" for name, p in body["parts"].items() if name != broken)


@pytest.mark.parametrize("broken", ["stats", "retention"])
def test_a_part_that_accepts_no_work_is_reported_without_a_503(
    checks: list[float], monkeypatch: pytest.MonkeyPatch, broken: str
) -> None:
    _parts(monkeypatch, **{broken: ["late"]})
    answer = TestClient(api_app("viewer")).get("/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "healthy" and answer.json()["unhealthy"] == [broken]
    assert answer.json()["parts"][broken]["status"] == "unhealthy"


def test_dag_problems_name_the_paused_failing_and_missing_dags() -> None:
    dag = health.DagHealth
    found = [
        dag(dag_id="a", paused=True),
        dag(dag_id="b", paused=False, last_run_state="failed"),
        None,
        dag(dag_id="d", paused=False, last_run_state="success"),
        dag(dag_id="e", paused=False),
    ]
    assert health.dag_problems(found, ("a", "b", "c", "d", "e")) == [
        "DAG a is paused",
        "DAG b is failing (its latest run failed)",
        "DAG c is not parsed (missing from the DAG bundle, or an import error)",
    ]


def test_timers_need_the_secret_and_a_live_dispatcher() -> None:
    alive = health.DispatcherHealth(name="a", heartbeat_age=-0.4, up=10)
    dead = health.DispatcherHealth(name="b", heartbeat_age=health.HEARTBEAT_LIMIT + 1, up=10)
    assert health.timers_problems(True, [dead, alive]) == []
    assert health.timers_problems(True, [dead]) == ["no timer dispatcher has a heartbeat in the last 5 s"]
    assert health.timers_problems(True, []) == ["no timer dispatcher has a heartbeat in the last 5 s"]
    [missing] = health.timers_problems(False, [alive])
    assert "[courier] webhook_secret is not set" in missing


def test_stats_lag_over_the_limit_is_a_problem() -> None:
    assert health.stats_problems(None) == [] and health.stats_problems(health.ROLLUP_LAG_LIMIT - 1) == []
    assert health.stats_problems(health.ROLLUP_LAG_LIMIT + 60) == [
        "the stats roll-up lags 360 s behind (more than 300 s)"
    ]
