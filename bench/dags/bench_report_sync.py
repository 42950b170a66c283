"""
### bench_report_sync (benchmark DAG for `bench/report_collector.py`; not part of the product)

One report collected by `CollectReportOperator(deferrable=False)`: the CronJob pod's behaviour: polls while holding its worker slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from courier.reports.operators import CollectReportOperator


@dag(
    dag_id="bench_report_sync",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["courier", "bench"],
    default_args={"retries": 0},
)
def bench_report_sync() -> None:
    CollectReportOperator(task_id="collect_report", poll_interval=10, timeout=timedelta(minutes=10), deferrable=False)


bench_report_sync()
