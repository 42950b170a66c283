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
`[courier] storage_base`. Each snapshot updates the `courier_api_snapshots` asset (URI: the snapshots folder;
the event's `extra` names the file, its rows and the API URL read).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag

from courier import domains
from courier.pages.operators import ApiSnapshotOperator
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
    ApiSnapshotOperator(task_id="snapshot")  # its outlet: the courier_api_snapshots Asset (courier.assets)


api_snapshot()
