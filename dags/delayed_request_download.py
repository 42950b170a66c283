"""
### delayed_request_download

Every 90 minutes (00:00, 01:30, 03:00, … UTC — a `MultipleCronTriggerTimetable` of two cron lines, so the
cadence stays on the wall clock), every `success` job's result that is not in storage yet is fetched from
the processor, and the job marked `downloaded` (a result the sensor stored already is only verified).
Overlapping runs download each job exactly once (row locks); a failed download leaves the job `success`
for the next run. Trigger it by hand with `airflow dags trigger delayed_request_download`. See
`docs/jobs.md`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import MultipleCronTriggerTimetable, dag

from courier import domains
from courier.jobs.operators import download_results


@dag(
    dag_id=domains.DELAYED_REQUEST_DOWNLOAD,
    schedule=MultipleCronTriggerTimetable("0 0-21/3 * * *", "30 1-22/3 * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=2,
    doc_md=__doc__,
    tags=["courier", "jobs", "smoke"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "execution_timeout": timedelta(minutes=80)},
)
def delayed_request_download() -> None:
    PythonOperator(task_id="download", python_callable=download_results)


delayed_request_download()
