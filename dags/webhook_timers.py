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
ends. See `docs/timers.md`.
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
    max_active_runs=1,
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
