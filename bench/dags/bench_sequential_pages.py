"""
### bench_sequential_pages (benchmark baseline for `bench/fanout.py`; not part of the product)

`HttpOperator`-style pagination: one task, Airflow's `HttpHook`, one request after another, every page's
records kept in memory until the end, then one CSV.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task


@dag(
    dag_id="bench_sequential_pages",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    doc_md=__doc__,
    tags=["courier", "bench"],
    default_args={"retries": 0},
    params={"query": Param({}, type="object", description="query of the listing request")},
)
def bench_sequential_pages() -> None:
    @task
    def fetch_all_pages(params: dict | None = None, dag_run=None) -> dict:  # type: ignore[no-untyped-def]
        from airflow.providers.http.hooks.http import HttpHook

        from courier.pages.records import columns_of, csv_writer, records_at, write_records
        from courier.pages.storing import base_url, open_write, path_of

        hook = HttpHook(method="GET", http_conn_id="paged_api_default")
        links = hook.run("/pages", data=(params or {}).get("query") or {}).json()["links"]
        records: list[dict] = []
        for link in links:  # relative links, as the demo lists them by default
            records.extend(records_at(hook.run(link).json(), "data"))
        report = f"{base_url()}/bench/sequential/{dag_run.run_id}/report.csv"
        with open_write(path_of(report)) as stream:
            rows = write_records(csv_writer(stream, columns_of(records)), records)
        return {"pages": len(links), "rows": rows, "report": report}

    fetch_all_pages()


bench_sequential_pages()
