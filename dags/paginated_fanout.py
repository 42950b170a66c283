"""
### paginated_fanout

Fetch every page of a paginated API in parallel and merge them into one CSV — the job teams otherwise do
with one pod per page (1000 mapped tasks run at ~1.4 tasks/s here and stop at 1024).

1. **list_and_plan**: `GET {links_endpoint}` (a path relative to the connection's host) through
   `paged_api_default`; the links (absolute or relative; another origin only when the connection's extra
   `allow_other_hosts` is true, each passing its address policy, never with the connection's credentials) under `links_key` are split into batches — at most `max_batches`
   (default 64) whatever the page count — and each batch's links are written to object storage.
2. **fetch_batch** (mapped, one per batch, named "batch i/n · pages a-b"): fetches its pages concurrently
   (async httpx, `concurrency` in flight, each page retried up to `page_attempts` times honouring
   `Retry-After`) and writes one part file. `[courier] execution_mode = local`: a plain task;
   `kubernetes`: a pod running `courier pages fetch-batch` in `[courier] worker_image`.
3. **merge**: streams the parts into `{storage_base}/pages/paginated_fanout/<run id>/report.csv` (columns:
   the union, first-seen order) and writes `manifest.json` (pages, rows, failed pages, timings). More than
   `max_failed_pages` failed pages fail the run; the manifest names them.

XCom carries paths and counts only. Trigger with e.g. `{"query": {"pages": 5000}, "batch_size": 100}`
(`query` goes to the listing request; the demo API reads pages, rows, latency_ms and failures from it).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from courier import assets, domains
from courier.pages.operators import fetch_batches


@dag(
    dag_id=domains.PAGINATED_FANOUT,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # no schedule: runs only when triggered (domains.ON_DEMAND_DAGS)
    doc_md=__doc__,
    tags=["courier", "pages", "smoke"],
    max_active_runs=4,
    max_active_tasks=8,  # per run; fetch_batch also holds [courier] fanout_pool slots, at most half per run
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10), "execution_timeout": timedelta(minutes=30)},
    params={
        "links_endpoint": Param("/pages", type="string", description="listing path relative to the connection's host"),
        "links_key": Param("links", type="string", description="dotted key of the links in the listing"),
        "records_key": Param("data", type="string", description="dotted key of the records in a page"),
        "query": Param({}, type="object", description="query parameters of the listing request"),
        "batch_size": Param(None, type=["null", "integer"], minimum=1, description="links per batch (null: 125)"),
        "max_batches": Param(64, type="integer", minimum=1, maximum=1024, description="most mapped tasks"),
        "concurrency": Param(32, type="integer", minimum=1, maximum=1024, description="pages in flight per batch"),
        "page_attempts": Param(5, type="integer", minimum=1, maximum=20, description="tries per page"),
        "max_failed_pages": Param(0, type="integer", minimum=0, description="failed pages tolerated"),
        "storage_base": Param(None, type=["null", "string"], description="a folder under [courier] storage_base"),
    },
)
def paginated_fanout() -> None:
    @task
    def list_and_plan(params: dict | None = None, dag_run=None) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
        from courier.pages.fanout import FanoutRequest, list_and_plan
        from courier.params import fail_fast

        with fail_fast():  # a refused links_endpoint or storage_base: no retry
            return list_and_plan(FanoutRequest.from_params(params or {}), dag_run.dag_id, dag_run.run_id)

    # write the manifest (naming failed batches) even when a batch failed; the merged CSV updates the
    # courier_fanout_reports asset (courier.assets), its event naming the file
    @task(trigger_rule="all_done", outlets=[assets.asset(assets.FANOUT)])
    def merge(params: dict | None = None, dag_run=None, **context) -> dict:  # type: ignore[no-untyped-def]
        from courier.pages.fanout import FanoutRequest, merge
        from courier.params import fail_fast

        with fail_fast():
            merged = merge(FanoutRequest.from_params(params or {}), dag_run.dag_id, dag_run.run_id)
        assets.record(
            context, assets.FANOUT, path=merged["report"], **{k: v for k, v in merged.items() if k != "report"}
        )
        return merged

    plan = list_and_plan()
    fetch_batches(plan) >> merge()


paginated_fanout()
