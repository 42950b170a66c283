"""
### courier_e2e_waiters (end-to-end tests only)

`count` mapped `ScheduleWebhookOperator` tasks, each scheduling one webhook at `fire_at` to `url` and
waiting for its delivery deferred: many tasks waiting at once in one triggerer (tests/e2e/test_timers.py).
Deployed only into the e2e stack's DAG folder, never with Courier's DAGs.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from courier.timers.operators import ScheduleWebhookOperator

COUNT = 300


@dag(
    dag_id="courier_e2e_waiters",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    max_active_tasks=COUNT,
    params={"url": Param("http://127.0.0.1:9/hook/", type="string"), "fire_at": Param("", type="string")},
    tags=["courier", "courier-e2e"],  # `courier up` waits for every file of its DAG folder by this tag
)
def courier_e2e_waiters() -> None:
    ScheduleWebhookOperator.partial(
        task_id="wait",
        url="{{ params.url }}",
        fire_at="{{ params.fire_at }}",
        wait_for_delivery=True,
        retries=0,
    ).expand(payload=list(range(COUNT)))


courier_e2e_waiters()
