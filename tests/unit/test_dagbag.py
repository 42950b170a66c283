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
