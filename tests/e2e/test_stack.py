"""The embedded stack, end to end: components healthy, the Courier API authenticated, selfcheck through the scheduler."""

from __future__ import annotations

import httpx

from courier.db.migrate import latest_version
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.helpers import wait_until


def test_components_are_healthy_and_heartbeating(stack: Stack) -> None:
    health = stack.health()
    for component in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
        assert health[component]["status"] == "healthy", health
    assert health["scheduler"]["latest_scheduler_heartbeat"]
    assert health["triggerer"]["latest_triggerer_heartbeat"]
    assert health["dag_processor"]["latest_dag_processor_heartbeat"]


def test_courier_health_requires_a_token(stack: Stack, api: AirflowApi) -> None:
    anonymous = httpx.get(f"{stack.url}/courier/health", timeout=10)
    assert anonymous.status_code == 401
    # 200 once the timer dispatchers run (a few seconds after start-up; before that: 503, naming them)
    answer = _healthy(api)
    body = answer.json()
    assert body["status"] == "healthy"
    assert body["database"] == {
        "status": "healthy",
        "reachable": True,
        "schema_version": latest_version(),
        "latest_schema_version": latest_version(),
        "error": None,
    }
    assert body["version"]


def test_courier_openapi_requires_a_token(stack: Stack, api: AirflowApi) -> None:
    assert httpx.get(f"{stack.url}/courier/openapi.json", timeout=10).status_code == 401
    spec = api.request("GET", "/courier/openapi.json").json()
    assert "/health" in spec["paths"]


def test_selfcheck_succeeds_on_local_storage(stack: Stack, api: AirflowApi) -> None:
    run_id = api.trigger("courier_selfcheck")
    run = api.wait_for_run("courier_selfcheck", run_id, timeout=120)
    assert run["state"] == "success"
    probe_dir = stack.home / "data" / "_courier_probe"
    assert probe_dir.is_dir() and list(probe_dir.iterdir()) == []  # written, read back, deleted


def test_selfcheck_succeeds_on_s3_storage(api: AirflowApi, e2e_s3: tuple[str, str]) -> None:
    _, bucket = e2e_s3
    run_id = api.trigger("courier_selfcheck", {"storage_base": f"s3://{bucket}/selfcheck"})
    assert api.wait_for_run("courier_selfcheck", run_id, timeout=120)["state"] == "success"


def test_selfcheck_fails_with_a_message_on_bad_storage(api: AirflowApi, e2e_s3: tuple[str, str]) -> None:
    _, bucket = e2e_s3
    run_id = api.trigger("courier_selfcheck", {"storage_base": f"s3://{bucket}-does-not-exist/x"})
    run = api.wait_for_run("courier_selfcheck", run_id, timeout=120)
    assert run["state"] == "failed"
    states = {t["task_id"]: t["state"] for t in api.task_instances("courier_selfcheck", run_id)}
    assert states == {"check_database": "success", "check_storage": "failed"}
    log = api.request("GET", f"/api/v2/dags/courier_selfcheck/dagRuns/{run_id}/taskInstances/check_storage/logs/1")
    assert "is not usable" in log.text


def test_health_names_a_paused_webhook_timers_with_a_503_then_recovers(stack: Stack, api: AirflowApi) -> None:
    """Paused, webhook_timers would accept timers and never fire them: the health route must say so."""

    def health() -> httpx.Response:
        return api.request("GET", "/courier/health")

    _healthy(api)
    assert health().json()["parts"]["timers"]["dispatchers"], health().json()
    api.request("PATCH", "/api/v2/dags/webhook_timers", json={"is_paused": True}).raise_for_status()
    try:
        answer = wait_until(
            lambda: (r := health()).status_code == 503 and r, 30, "a 503 naming webhook_timers", every=1
        )
        body = answer.json()
        assert body["status"] == "unhealthy" and "timers" in body["unhealthy"], body
        assert "DAG webhook_timers is paused" in body["parts"]["timers"]["problems"], body
    finally:
        api.unpause("webhook_timers")
    healthy = wait_until(lambda: (r := health()).status_code == 200 and r, 60, "healthy again after unpausing", every=1)
    assert healthy.json()["parts"]["timers"]["status"] == "healthy", healthy.json()


def _healthy(api: AirflowApi, timeout: float = 180) -> httpx.Response:
    """Wait for ``/courier/health`` to answer 200; on a timeout, fail with the last answer (what is unhealthy)."""
    last: list[httpx.Response] = []

    def check() -> httpx.Response | None:
        last[:] = [api.request("GET", "/courier/health")]
        return last[0] if last[0].status_code == 200 else None

    try:
        return wait_until(check, timeout, "a 200 from /courier/health", every=1)  # type: ignore[no-any-return]
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last answer {last[0].status_code}: {last[0].text[:3000]}") from None


def test_courier_up_creates_the_pools_sized_from_config(stack: Stack, api: AirflowApi) -> None:
    """`courier up` runs `courier pools sync`: the fan-out and spec pools exist with [courier]'s sizes,
    and the tasks that use them name them (a task naming a missing pool would never be scheduled)."""
    from courier.config import load

    cfg = load()
    for name, slots in ((cfg.fanout_pool, cfg.fanout_pool_slots), (cfg.spec_pool, cfg.spec_pool_slots)):
        answer = api.request("GET", f"/api/v2/pools/{name}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["slots"] == slots
    for dag_id, task_id, pool in (
        ("paginated_fanout", "fetch_batch", cfg.fanout_pool),
        ("spec_matrix", "worker", cfg.spec_pool),
    ):
        task = api.request("GET", f"/api/v2/dags/{dag_id}/tasks/{task_id}").json()
        assert task["pool"] == pool and task["execution_timeout"] is not None, task
