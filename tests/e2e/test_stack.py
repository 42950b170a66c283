"""The embedded stack, end to end: components healthy, the Courier API authenticated, selfcheck through the scheduler."""

from __future__ import annotations

import httpx

from courier.db.migrate import latest_version
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack


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
    answer = api.request("GET", "/courier/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "healthy"
    assert body["database"] == {
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
