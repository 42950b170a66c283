"""
### bench_page_per_task (benchmark baseline for `bench/fanout.py`; not part of the product)

The "one pod per page" design in Airflow terms: list the links, then one mapped task per page (each fetches
its page and writes a part file), then a merge. Capped by `[core] max_map_length` (1024) and by how fast
the scheduler starts tasks.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task


@dag(
    dag_id="bench_page_per_task",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["courier", "bench"],
    default_args={"retries": 0},
    params={"query": Param({}, type="object", description="query of the listing request")},
)
def bench_page_per_task() -> None:
    @task
    def list_pages(params: dict | None = None) -> list[str]:
        from courier.pages.batching import resolve_links
        from courier.pages.hook import PagedApiHook

        url, links = PagedApiHook().list_links("/pages", "links", (params or {}).get("query") or {})
        return resolve_links(url, links).urls

    @task
    def fetch_page(url: str, dag_run=None, ti=None) -> dict:  # type: ignore[no-untyped-def]
        from courier.pages.hook import PagedApiHook
        from courier.pages.records import columns_of, csv_writer, records_at, write_records
        from courier.pages.storing import base_url, open_write, path_of

        records = records_at(PagedApiHook().get(url).json(), "data")
        part = f"{base_url()}/bench/page_per_task/{dag_run.run_id}/page-{ti.map_index:04d}.csv"
        columns = columns_of(records)
        with open_write(path_of(part)) as stream:
            write_records(csv_writer(stream, columns), records)
        return {"part": part, "columns": columns}

    @task
    def merge(parts: list[dict], dag_run=None) -> dict:  # type: ignore[no-untyped-def]
        from courier.pages.fanout import merge_parts
        from courier.pages.storing import base_url

        report = f"{base_url()}/bench/page_per_task/{dag_run.run_id}/report.csv"
        rows, _ = merge_parts([(p["part"], p["columns"]) for p in parts], report)
        return {"pages": len(parts), "rows": rows, "report": report}

    merge(fetch_page.expand(url=list_pages()))


bench_page_per_task()
