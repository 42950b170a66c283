"""
### report_collector

Every minute, request one report from the report API (`report_api_default`), wait **deferred** — in the
triggerer, holding no worker slot — polling every 10 s until it is ready, check the CSV and store it at
`{storage_base}/reports/report_collector/<logical date>/<ticket>.csv`. Each stored report updates the
`courier_reports` asset (URI: that folder; the event's `extra` names the file, its rows and bytes, the ticket).

Never two runs at once (`max_active_runs=1`) and no backlog: with `catchup=False` and a cron trigger
timetable, slots that pass while a run is active are not queued; the next run takes the latest slot and
logs how many were skipped (XCom `skipped_slots`), like a CronJob's missed schedules. A retry resumes the
ticket that is still pending instead of requesting another from a slow server.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag

from courier import config, domains
from courier.reports.operators import CollectReportOperator


@dag(
    dag_id=domains.REPORT_COLLECTOR,
    schedule="* * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=45),
    doc_md=__doc__,
    tags=["courier", "reports"],
    # 3 tries x (10 min wait + 1 min deferral slack + 3 min on the worker) + 2 x 30 s = 43 min <= 45 min: the
    # last retry (which resumes the pending ticket) always gets its whole wait inside the run's timeout
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "execution_timeout": timedelta(minutes=3),
        **config.housekeeping(),  # small and every minute: off the pod-per-task path when configured
    },
)
def report_collector() -> None:
    CollectReportOperator(
        task_id="collect_report",
        poll_interval=10,
        timeout=timedelta(minutes=10),  # its outlet: the courier_reports Asset (courier.assets)
    )


report_collector()
