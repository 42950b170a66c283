"""
### courier_retention

Every day, deletes what Courier stores once it is finished and older than `[courier] retention_days`
(default 30; each domain may keep its own: `timers_retention_days`, `jobs_retention_days`,
`reports_retention_days`, `specs_retention_days`):

- delivered, failed, cancelled and expired **timers** with their attempts;
- final **jobs** (success, failed, downloaded, cancelled) with their attempts and stored results; then pushed
  **files** no job names, uploaded more than `job_upload_expiry_days` (default 1) ago;
- collected and failed **report tickets**;
- finished **spec runs** with their cells, attempts, report and artifacts.

Nothing still open is ever deleted. Rows go in batches of `[courier] retention_batch_size` (1000), one short
transaction each, with their files deleted before the batch commits. The same clean by hand, with one cut-off:
`courier db clean --clean-before-timestamp TS [--tables …] [--dry-run]`. Counts per table go to XCom.
Not paused at creation: it keeps the database from growing on every deployment. See README "Retention".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from courier import config, domains


@dag(
    dag_id=domains.COURIER_RETENTION,
    schedule="17 3 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=1,
    doc_md=__doc__,
    tags=["courier", "retention"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=5),
        # a clean of a million finished timers takes minutes (bench/retention.py: ~18,000 rows/s paced)
        "execution_timeout": timedelta(hours=2),
        **config.housekeeping(),  # small and daily: off the pod-per-task path when configured
    },
)
def courier_retention() -> None:
    @task
    def clean() -> dict:
        from courier.retention import run_task

        return run_task()

    clean()


courier_retention()
