"""
### bench_timer_native

The Airflow-native way to fire one webhook at an instant, for the timer benchmark's baseline: one DAG run
per timer, a deferrable `DateTimeSensorAsync` (a `DateTimeTrigger` wait) until `fire_at`, then a task that
POSTs to `url + timer_id`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import dag, task


@dag(
    dag_id="bench_timer_native",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=200,
    doc_md=__doc__,
    tags=["courier", "bench"],
    params={"fire_at": "", "url": "", "timer_id": ""},
    default_args={"retries": 0},
)
def bench_timer_native() -> None:
    wait = DateTimeSensorAsync(task_id="wait", target_time="{{ params.fire_at }}")

    @task
    def post(params: dict[str, Any] | None = None) -> int:
        assert params is not None
        body = {"id": params["timer_id"], "scheduled_for": params["fire_at"], "payload": None}
        return httpx.post(params["url"] + params["timer_id"], json=body, timeout=15).status_code

    wait >> post()


bench_timer_native()
