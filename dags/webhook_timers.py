"""
### webhook_timers

Keeps Courier's **timer dispatcher** alive. Clients schedule webhooks with `POST /courier/timers`
(or `ScheduleWebhookOperator`); the dispatcher claims timers due in the next seconds from the Courier
database (`FOR UPDATE SKIP LOCKED` + lease, woken at once by `LISTEN/NOTIFY`), fires each at its exact
instant with a signed `POST url + id` (Standard Webhooks), retries failures on the configured schedule and
records every attempt.

Shape: a `@continuous` DAG (`max_active_runs=1`) whose two tasks (`dispatch_1`, `dispatch_2`) defer at
once to `TimerDispatchTrigger`, so two dispatchers live in the **triggerer(s)** and hold no worker slot.
They share the timers through leases in the database and heartbeat every 0.15 s: when one dies (its
triggerer is killed), the other takes its timers over within a second. With `[courier]
timer_trigger_queues` (set by `courier up --triggerers 2`) each runs on its own triggerer. A restarted
triggerer resumes its dispatcher; a failed task retries, and a continuous DAG starts a new run when a run
ends. Not paused at creation: it serves `POST /courier/timers`.

Without `[courier] webhook_secret` both tasks fail at once (no retry), naming the setting, and the DAG pauses
itself after that one failed run (`max_consecutive_failed_dag_runs=1`) instead of failing run after run;
`/courier/health` then answers 503 naming the DAG and the setting. Set the secret, then unpause the DAG.
See `docs/timers.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from courier import config, domains
from courier.timers.operators import TimerDispatcherOperator


@dag(
    dag_id=domains.WEBHOOK_TIMERS,
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=1,
    # A run fails only when a dispatcher cannot start after all its retries — a configuration error such as a
    # missing [courier] webhook_secret (failed at once, no retry). A @continuous DAG would start the next run
    # at once and fail it again, run after run: instead the scheduler pauses the DAG after that one failed run,
    # and /courier/health answers 503 naming the DAG and the setting until it is fixed and the DAG unpaused.
    max_consecutive_failed_dag_runs=1,
    doc_md=__doc__,
    tags=["courier", "timers"],
    # execution_timeout bounds the start on a worker; the dispatcher then runs deferred, in the triggerer
    default_args={
        "retries": 5,
        "retry_delay": timedelta(seconds=5),
        "execution_timeout": timedelta(minutes=5),
        **config.housekeeping(),
    },
)
def webhook_timers() -> None:
    for slot in (1, 2):
        TimerDispatcherOperator(task_id=f"dispatch_{slot}", slot=slot)


webhook_timers()
