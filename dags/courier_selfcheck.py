"""
### courier_selfcheck

The first thing to run after installing Courier. It checks, and fails with a message saying what is wrong:

1. **database**: the `courier_db` connection reaches the Courier database and its schema is migrated
   (`courier db migrate`); the check records itself in the `courier_selfcheck` table.
2. **storage**: `[courier] storage_base` (or the `storage_base` param) is writable: a probe object is
   written, read back and deleted.

Trigger it by hand (UI, or `airflow dags trigger courier_selfcheck`), optionally with
`{"storage_base": "s3://bucket/prefix"}` to check another base.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from courier import domains


@dag(
    dag_id=domains.COURIER_SELFCHECK,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # no schedule: runs only when triggered (domains.ON_DEMAND_DAGS)
    doc_md=__doc__,
    tags=["courier", "smoke"],
    default_args={
        "retries": 0,
        "execution_timeout": timedelta(minutes=5),
    },  # a self-check should say what is wrong at once, not retry it
    params={"storage_base": Param(None, type=["null", "string"], description="a folder under [courier] storage_base")},
)
def courier_selfcheck() -> None:
    @task
    def check_database(params: dict | None = None, run_id: str | None = None) -> dict:
        from courier.selfcheck import check_database

        return check_database(str(run_id), (params or {}).get("storage_base") or "")  # only recorded

    @task
    def check_storage(params: dict | None = None) -> dict:
        from courier.params import fail_fast, storage_param
        from courier.selfcheck import check_storage

        with fail_fast():
            return check_storage(storage_param((params or {}).get("storage_base")))

    check_database() >> check_storage()


courier_selfcheck()
