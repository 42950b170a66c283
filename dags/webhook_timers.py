"""
### webhook_timers

Keeps Courier's **timer dispatcher** alive. Clients schedule webhooks with `POST /courier/timers`
(or `ScheduleWebhookOperator`); the dispatcher claims timers due in the next seconds from the Courier
database (`FOR UPDATE SKIP LOCKED` + lease, woken at once by `LISTEN/NOTIFY`), fires each at its exact
instant with a signed `POST url + id` (Standard Webhooks), retries failures on the configured schedule and
records every attempt.

Shape: a `@continuous` DAG (`max_active_runs=1`) whose one task defers at once to `TimerDispatchTrigger`,
so the loop lives in the **triggerer** and holds no worker slot. The run stays `running` while the
dispatcher works; if the triggerer restarts, Airflow hands the trigger to the next triggerer and the
dispatcher resumes from the database. If the task fails, it retries, and a continuous DAG starts a new run
when a run ends, so a dispatcher is always back within seconds. More triggerers (HA) or dispatchers share
the work without double firing. See `docs/timers.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from courier.timers.operators import TimerDispatcherOperator


@dag(
    dag_id="webhook_timers",
    schedule="@continuous",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["courier", "timers"],
    default_args={"retries": 5, "retry_delay": timedelta(seconds=5)},
)
def webhook_timers() -> None:
    TimerDispatcherOperator(task_id="dispatch")


webhook_timers()
