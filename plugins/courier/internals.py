"""The one module of Courier that reaches past Airflow's public interfaces, and why.

Courier's code uses the Task SDK (``airflow.sdk``: DAGs, operators, hooks, exceptions, timetables and
``conf``), documented provider APIs, the plugin and auth-manager interfaces and the REST API.
``tests/unit/test_public_interfaces.py`` fails on an ``airflow`` import anywhere else that is not public.

- :func:`trigger_run` and :func:`queued_runs`: the API server plugin starts ``delayed_request`` runs when
  jobs are submitted (``courier/jobs/start.py``). It runs inside the API server, where the public way — a
  POST to ``/api/v2/dags/{dag_id}/dagRuns`` — would need a token of some user the plugin has no business
  holding; Airflow's own REST route calls ``trigger_dag`` (``airflow.api.common.trigger_dag``) in the same
  process, so Courier does too, and counts queued runs with ``airflow.models.dagrun`` in a ``create_session``.
- :func:`dag_states`: ``/courier/health`` (inside the API server) reports whether Courier's service DAGs are
  paused or their last run failed; the public way is again a loopback REST call with a credential of its own
  (see the comment above the function).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["DagState", "dag_states", "queued_runs", "trigger_run"]


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


# -- the health route's read of the service DAGs ------------------------------------------------------------
# Why here (and not the REST API):
# Why not the REST API (``GET /api/v2/dags/{id}``): the health route runs inside the API server, so the REST API
# would be a loopback HTTP call needing a token of its own — the caller's may not read these DAGs (a viewer of
# one domain, a load balancer's probe account), and a service credential would be a secret to deploy for a health
# check. Reading the same two columns the REST API's DAG and run endpoints read, through Airflow's session, costs
# one query per DAG and runs at most once a second (the route's cache). ``courier.jobs.start`` reads ``DagRun``
# the same way to trigger runs.


@dataclass(frozen=True)
class DagState:
    dag_id: str
    known: bool
    """Parsed and serialized by Airflow (False: the DAG file is missing or failed to import)."""
    paused: bool
    last_run_state: str | None
    """State of the latest finished run (``success``/``failed``), None if none finished yet."""
    last_run_end: datetime | None


def dag_states(dag_ids: Sequence[str]) -> dict[str, DagState]:
    """Return each DAG's state (one query for the DAGs, one per DAG for its latest finished run)."""
    from airflow.models.dag import DagModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    finished = (DagRunState.SUCCESS, DagRunState.FAILED)
    with create_session() as session:
        rows = session.execute(
            select(DagModel.dag_id, DagModel.is_paused, DagModel.is_stale).where(DagModel.dag_id.in_(list(dag_ids)))
        ).all()
        found = {r.dag_id: r for r in rows}
        states: dict[str, DagState] = {}
        for dag_id in dag_ids:
            row = found.get(dag_id)
            last = session.execute(
                select(DagRun.state, DagRun.end_date)
                .where(DagRun.dag_id == dag_id, DagRun.state.in_(finished))
                .order_by(DagRun.end_date.desc().nulls_last())
                .limit(1)
            ).first()
            states[dag_id] = DagState(
                dag_id=dag_id,
                known=row is not None and not row.is_stale,
                paused=bool(row.is_paused) if row is not None else False,
                last_run_state=str(getattr(last.state, "value", last.state)) if last else None,
                last_run_end=last.end_date if last else None,
            )
    return states
