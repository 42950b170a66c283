"""
### api_snapshot

Every 15 minutes, `GET {endpoint}` through `paged_api_default` and store the answer as CSV in
`{storage_base}/snapshots/api_snapshot/<start>-<end>.csv` — the job a Kubernetes CronJob usually does.

The records may come as JSON (a list under `records_key`, default `data`; nested values become JSON cells,
columns are the union in first-seen order) or as CSV (stored as served). The file name comes from the data
interval, so a re-run of an interval (a cleared task, a retry) replaces its file instead of adding one; a
manual run without a logical date takes the last complete 15-minute interval. Requests are retried on
429/5xx and connection errors, honouring `Retry-After`. `endpoint` is a path relative to the connection's
host (absolute URLs only on hosts its `allowed_hosts` extra lists); `storage_base` a folder under
`[courier] storage_base`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from courier import domains
from courier.pages.snapshot import SNAPSHOT_CRON


@dag(
    dag_id=domains.API_SNAPSHOT,
    schedule=CronDataIntervalTimetable(SNAPSHOT_CRON, timezone="UTC"),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["courier", "pages", "smoke"],
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "execution_timeout": timedelta(minutes=4)},
    dagrun_timeout=timedelta(minutes=14),  # never overlap the next interval
    params={
        "endpoint": Param("/data", type="string", description="path relative to the connection's host"),
        "records_key": Param("data", type="string", description="dotted key of the records in a JSON body"),
        "format": Param("auto", enum=["auto", "json", "csv"], description="auto: by Content-Type"),
        "query": Param({}, type="object", description="query parameters of the request"),
        "storage_base": Param(None, type=["null", "string"], description="a folder under [courier] storage_base"),
    },
)
def api_snapshot() -> None:
    @task
    def snapshot(params: dict | None = None, dag_run=None) -> dict:  # type: ignore[no-untyped-def]
        from courier.pages.snapshot import run_snapshot
        from courier.params import fail_fast

        with fail_fast():  # a refused endpoint or storage_base: no retry
            return run_snapshot(
                params or {},
                dag_run.dag_id,
                dag_run.data_interval_start,
                dag_run.data_interval_end,
                dag_run.run_after,
            )

    snapshot()


api_snapshot()
