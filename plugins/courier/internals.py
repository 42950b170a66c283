"""The one module of Courier that reaches past Airflow's public interfaces, and why.

Courier's code uses the Task SDK (``airflow.sdk``: DAGs, operators, hooks, exceptions, timetables and
``conf``), documented provider APIs, the plugin and auth-manager interfaces and the REST API.
``tests/unit/test_public_interfaces.py`` fails on an ``airflow`` import anywhere else that is not public.

- :func:`trigger_run` and :func:`queued_runs`: the API server plugin starts ``delayed_request`` runs when
  jobs are submitted (``courier/jobs/start.py``). It runs inside the API server, where the public way — a
  POST to ``/api/v2/dags/{dag_id}/dagRuns`` — would need a token of some user the plugin has no business
  holding; Airflow's own REST route calls ``trigger_dag`` (``airflow.api.common.trigger_dag``) in the same
  process, so Courier does too, and counts queued runs with ``airflow.models.dagrun`` in a ``create_session``.
"""

from __future__ import annotations

__all__ = ["queued_runs", "trigger_run"]


def queued_runs(dag_id: str) -> int:
    """How many runs of ``dag_id`` are queued (created, not started), from the metadata database."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import func, select

    with create_session() as session:
        count = session.scalar(select(func.count()).where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.QUEUED))
    return int(count or 0)


def trigger_run(dag_id: str, run_id: str) -> bool:
    """Create a run ``run_id`` of ``dag_id`` as the REST API does; False when that run exists already."""
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType

    try:
        trigger_dag(dag_id, run_id=run_id, triggered_by=DagRunTriggeredByType.REST_API)
    except DagRunAlreadyExists:
        return False
    return True
