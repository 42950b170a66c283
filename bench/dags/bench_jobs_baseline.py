"""
### bench_jobs_baseline

The baseline of `bench/jobs.py`: one DAG run per job — an `HttpOperator` submits it to the processor and a
deferrable `HttpSensor` waits until the processor serves its result (404 before).
"""

from __future__ import annotations

import json
from datetime import datetime

from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor
from airflow.sdk import dag


@dag(
    dag_id="bench_jobs_baseline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=64,
    doc_md=__doc__,
    tags=["courier", "bench"],
    default_args={"retries": 0},
)
def bench_jobs_baseline() -> None:
    submit = HttpOperator(
        task_id="submit",
        http_conn_id="jobs_api_default",
        endpoint="/jobs",
        method="POST",
        data=json.dumps({"files": [], "params": {}}),
        headers={"Content-Type": "application/json"},
        response_filter=lambda response: response.json()["id"],
    )
    wait = HttpSensor(
        task_id="wait",
        http_conn_id="jobs_api_default",
        endpoint="/results/{{ ti.xcom_pull(task_ids='submit') }}",  # 404 until the processor is done
        method="GET",
        poke_interval=5,
        deferrable=True,
    )
    submit >> wait


bench_jobs_baseline()
