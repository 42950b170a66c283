"""What ``/courier/health`` asks Airflow: is each of Courier's service DAGs paused, and how did its latest
finished run end. The one place the API server reads Airflow's metadata models (``DagModel``, ``DagRun``).

Why not the REST API (``GET /api/v2/dags/{id}``): the health route runs inside the API server, so the REST API
would be a loopback HTTP call needing a token of its own — the caller's may not read these DAGs (a viewer of
one domain, a load balancer's probe account), and a service credential would be a secret to deploy for a health
check. Reading the same two columns the REST API's DAG and run endpoints read, through Airflow's session, costs
one query per DAG and runs at most once a second (the route's cache). ``courier.jobs.start`` reads ``DagRun``
the same way to trigger runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


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
