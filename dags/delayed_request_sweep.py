"""
### delayed_request_sweep

The safety net of the **jobs** domain, every 15 minutes: jobs `processing` more than a minute past their
deadline have no live owner (a run that crashed, a killed worker) — each is re-queued once, or `failed`
if it was retried already; then, if any job is `queued` (re-queued, or never claimed), a
`delayed_request` run is started. Idempotent: two sweeps at once change each job once
(`FOR UPDATE SKIP LOCKED` and guarded updates). See `docs/jobs.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import dag

from courier import config, domains
from courier.jobs.operators import sweep_jobs


@dag(
    dag_id=domains.DELAYED_REQUEST_SWEEP,
    schedule="*/15 * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=1,
    doc_md=__doc__,
    tags=["courier", "jobs", "smoke"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=5),
        **config.housekeeping(),
    },
)
def delayed_request_sweep() -> None:
    sweep = ShortCircuitOperator(task_id="sweep", python_callable=sweep_jobs)
    start_delayed_request = TriggerDagRunOperator(
        task_id="start_delayed_request", trigger_dag_id=domains.DELAYED_REQUEST
    )
    sweep >> start_delayed_request


delayed_request_sweep()
