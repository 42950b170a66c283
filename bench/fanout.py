"""Benchmark: 1000 pages fetched and merged through the real scheduler, Courier versus the two usual designs.

Starts a real embedded stack (PostgreSQL, Airflow with LocalExecutor, the demo API) in a temporary home on a
free port, with a DAG folder holding Courier's ``paginated_fanout`` and two baseline DAGs from
``bench/dags/``, then runs, one after another, against the same demo API (50 ms per page, 100 rows per page):

1. ``paginated_fanout`` (Courier): 1000 pages, end to end (list + plan, mapped batches, merge).
2. ``bench_page_per_task``: one mapped task per page (the one-pod-per-page design in Airflow terms).
   Measured on ``--baseline-pages`` pages (default 100: 1000 would take ~12 minutes) and compared in
   pages per second.
3. ``bench_sequential_pages``: one task paging with Airflow's ``HttpHook``, one request after another,
   every page kept in memory (``HttpOperator``-style), 1000 pages.

Wall time is from the trigger call to the run's success as seen by polling the REST API every 0.2 s.
Prints one JSON object. Run: ``uv run python -m bench.fanout``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from bench.lib.stack import bench_stack, json_stdout, run_dag

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = (
    REPO / "dags" / "paginated_fanout.py",
    REPO / "bench" / "dags" / "bench_page_per_task.py",
    REPO / "bench" / "dags" / "bench_sequential_pages.py",
)
TARGET_WALL_SECONDS = 30.0
TARGET_SPEEDUP_VS_PAGE_PER_TASK = 20.0


def count_rows(csv_path: Path) -> int:
    with csv_path.open() as stream:
        return sum(1 for _ in stream) - 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--baseline-pages", type=int, default=100, help="pages for the one-task-per-page baseline")
    parser.add_argument("--rows", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    report = json_stdout()
    stack, home = bench_stack("fanout", DAG_FILES)
    query = {"rows": args.rows, "latency_ms": args.latency_ms, "seed": 3}
    load_before = os.getloadavg()
    data = home / "stack" / "data"
    try:
        stack.start()
        api = stack.api()
        try:
            courier = run_dag(api, "paginated_fanout", {"query": {**query, "pages": args.pages}}, timeout=600)
            manifest = json.loads(next(data.glob("pages/paginated_fanout/*/manifest.json")).read_text())
            assert manifest["rows"] == args.pages * args.rows and not manifest["failed_pages"], manifest
            per_page = run_dag(
                api, "bench_page_per_task", {"query": {**query, "pages": args.baseline_pages}}, timeout=1800
            )
            per_page_rows = count_rows(next(data.glob("bench/page_per_task/*/report.csv")))
            sequential = run_dag(api, "bench_sequential_pages", {"query": {**query, "pages": args.pages}}, timeout=1800)
            sequential_rows = count_rows(next(data.glob("bench/sequential/*/report.csv")))
        finally:
            api.close()
    finally:
        stack.stop()
    assert per_page_rows == args.baseline_pages * args.rows and sequential_rows == args.pages * args.rows

    courier_rate = args.pages / courier["wall_seconds"]
    per_page_rate = args.baseline_pages / per_page["wall_seconds"]
    sequential_rate = args.pages / sequential["wall_seconds"]
    result = {
        "benchmark": "fanout",
        "command": "uv run python -m bench.fanout",
        "workload": {"pages": args.pages, "rows_per_page": args.rows, "server_latency_ms_per_page": args.latency_ms},
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before]},
        "courier_paginated_fanout": {
            **courier,
            "pages": args.pages,
            "rows": manifest["rows"],
            "batches": manifest["batches"],
            "pages_per_second": round(courier_rate, 1),
            "timings": manifest["timings"],
        },
        "baseline_one_task_per_page": {
            **per_page,
            "pages": args.baseline_pages,
            "rows": per_page_rows,
            "pages_per_second": round(per_page_rate, 2),
            "note": f"measured on {args.baseline_pages} pages; compare pages per second",
            "extrapolated_wall_seconds_for_all_pages": round(args.pages / per_page_rate, 0),
        },
        "baseline_sequential_one_task": {
            **sequential,
            "pages": args.pages,
            "rows": sequential_rows,
            "pages_per_second": round(sequential_rate, 1),
        },
        "speedup_vs_one_task_per_page": round(courier_rate / per_page_rate, 1),
        "speedup_vs_sequential": round(courier_rate / sequential_rate, 1),
        "targets": {
            "courier_wall_seconds_at_most": TARGET_WALL_SECONDS,
            "speedup_vs_one_task_per_page_at_least": TARGET_SPEEDUP_VS_PAGE_PER_TASK,
        },
    }
    result["targets_met"] = {
        "courier_wall_seconds": courier["wall_seconds"] <= TARGET_WALL_SECONDS,
        "speedup_vs_one_task_per_page": result["speedup_vs_one_task_per_page"] >= TARGET_SPEEDUP_VS_PAGE_PER_TASK,
    }
    shutil.rmtree(home, ignore_errors=True)
    report.write(json.dumps(result, indent=2) + "\n")
    report.flush()
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
