"""Every DAG file parses, fast, with the metadata operators rely on."""

from __future__ import annotations

import time

import pytest

from tests.conftest import REPO

DAG_FILES = sorted(p for p in (REPO / "dags").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():  # type: ignore[no-untyped-def]
    from tests.helpers import dag_bag

    return dag_bag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert dagbag.import_errors == {}


def test_one_dag_per_file(dagbag) -> None:  # type: ignore[no-untyped-def]
    assert len(dagbag.dags) == len(DAG_FILES)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_in_under_a_second(path) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import dag_bag

    dag_bag(dag_folder=str(REPO / "dags" / "courier_selfcheck.py"))  # warm Airflow's imports once
    began = time.perf_counter()
    bag = dag_bag(dag_folder=str(path))
    elapsed = time.perf_counter() - began
    assert bag.import_errors == {}
    assert elapsed < 1.0, f"{path.name} took {elapsed:.2f}s to parse"


def test_dags_carry_tags_retries_and_docs(dagbag) -> None:  # type: ignore[no-untyped-def]
    for dag_id, dag in dagbag.dags.items():
        assert "courier" in dag.tags, f"{dag_id} lacks the courier tag"
        assert "retries" in dag.default_args, f"{dag_id} sets no retries in default_args"
        assert dag.doc_md and len(dag.doc_md.strip()) > 40, f"{dag_id} has no doc_md"
        assert dag.start_date is not None, f"{dag_id} has no fixed start_date"


def test_delayed_request_starts_its_successor_after_a_full_claim(dagbag) -> None:  # type: ignore[no-untyped-def]
    """A run claims at most 1000 jobs: the next run must not wait for the sweep (integration test
    ``test_a_run_that_claimed_a_full_load_starts_the_next_one_while_jobs_wait`` checks the decision)."""
    from courier.jobs.operators import NextRunOperator

    task = dagbag.dags["delayed_request"].get_task("next_run")
    assert isinstance(task, NextRunOperator) and task.upstream_task_ids == {"claim"}
    assert task.trigger_dag_id == "delayed_request"


def test_service_and_on_demand_dags_run_from_creation_upstream_scheduled_ones_follow_the_deployment(dagbag) -> None:  # type: ignore[no-untyped-def]
    """The DAGs behind the API are never paused at creation, whatever ``dags_are_paused_at_creation`` says;
    the ones that call a user's upstream on a schedule keep the deployment's default (docs/DEPLOY.md)."""
    from courier import domains

    assert set(domains.SERVICE_DAGS) | set(domains.ON_DEMAND_DAGS) | set(domains.UPSTREAM_SCHEDULED_DAGS) == set(
        dagbag.dags
    )
    for dag_id in (*domains.SERVICE_DAGS, *domains.ON_DEMAND_DAGS):
        assert dagbag.dags[dag_id].is_paused_upon_creation is False, dag_id
    for dag_id in domains.UPSTREAM_SCHEDULED_DAGS:
        assert dagbag.dags[dag_id].is_paused_upon_creation is None, dag_id
        assert dagbag.dags[dag_id].schedule is not None, dag_id
    for dag_id in domains.ON_DEMAND_DAGS:
        assert dagbag.dags[dag_id].schedule is None, dag_id


def test_webhook_timers_pauses_itself_after_one_failed_run(dagbag) -> None:  # type: ignore[no-untyped-def]
    """A dispatcher that cannot start (no webhook_secret) fails its run once; the continuous DAG must not start
    the next run to fail it again (the scheduler pauses it: ``max_consecutive_failed_dag_runs``)."""
    dag = dagbag.dags["webhook_timers"]
    assert dag.max_consecutive_failed_dag_runs == 1
    assert all(task.retries > 0 for task in dag.tasks)  # transient failures are still retried in place


def test_every_task_has_an_execution_timeout(dagbag) -> None:  # type: ignore[no-untyped-def]
    missing = [
        f"{dag_id}.{task.task_id}"
        for dag_id, dag in sorted(dagbag.dags.items())
        for task in dag.tasks
        if task.execution_timeout is None
    ]
    assert not missing, f"tasks without execution_timeout: {missing}"


@pytest.mark.parametrize("mode", ["local", "kubernetes"])
def test_fanout_and_spec_workers_run_in_their_pools_with_per_dag_limits(mode: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The outbound HTTP fan-out and the spec workers take slots of their [courier] pools (in both execution
    modes), and no single run can take every slot: each run gets at most half of the pool."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__COURIER__EXECUTION_MODE", mode)
    monkeypatch.setenv("AIRFLOW__COURIER__FANOUT_POOL", "http_out")
    monkeypatch.setenv("AIRFLOW__COURIER__FANOUT_POOL_SLOTS", "10")
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_POOL", "browsers")
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_POOL_SLOTS", "6")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    for dag_id, task_id, pool, slots in (
        ("paginated_fanout", "fetch_batch", "http_out", 10),
        ("spec_matrix", "worker", "browsers", 6),
    ):
        dag = bag.dags[dag_id]
        task = dag.get_task(task_id)
        assert task.pool == pool, (dag_id, task.pool)
        assert task.max_active_tis_per_dag == slots
        assert task.max_active_tis_per_dagrun == slots // 2
        assert dag.max_active_tasks <= 8  # per run (Airflow 3), below Airflow's default of 16
    pools = {t.pool for d in bag.dags.values() for t in d.tasks}
    assert pools == {"default_pool", "http_out", "browsers"}


def test_report_collector_retries_fit_in_its_run_timeout(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Every try may wait its full timeout (+ the deferral's minute of slack) and the retry delays between
    them, and all of it still ends inside dagrun_timeout: the last retry is never cut short by the run."""
    from datetime import timedelta

    dag = dagbag.dags["report_collector"]
    task = dag.get_task("collect_report")
    tries = task.retries + 1
    worst = tries * (task.timeout + timedelta(minutes=1) + task.execution_timeout) + task.retries * task.retry_delay
    assert worst <= dag.dagrun_timeout, (worst, dag.dagrun_timeout)


def test_no_production_dag_makes_demo_data(dagbag) -> None:  # type: ignore[no-untyped-def]
    """Demo data is made by `courier up` (courier.demo.seed, through the public API), never by a DAG."""
    import inspect

    for dag_id, dag in dagbag.dags.items():
        assert not [p for p in dag.params if "demo" in p], f"{dag_id} takes a demo parameter"
        for task in dag.tasks:
            call = getattr(task, "python_callable", None)
            source = inspect.getsource(call) if call is not None else ""
            assert "demo" not in source.lower(), f"{dag_id}.{task.task_id} makes demo data"
