"""Scale of ``paginated_fanout``: 10,000 page links against 1,000, in the same run, on the real stack.

One embedded stack (PostgreSQL, Airflow with LocalExecutor and ``[core] parallelism`` worker slots, the demo
paged API at 50 ms and 100 rows per page) with only ``paginated_fanout`` in its DAG folder. A warm-up run of
10 pages first (not counted: the first run pays the cold DAG and task start), then the small size, then the
large one, each with the DAG's defaults (``max_batches`` 64, ``batch_size`` 125, 32 pages in flight per
batch): 1,000 pages are 8 mapped batches of 125, 10,000 are 64 of 156-157.

Figures per size: wall time (trigger to success, polled every 0.2 s), the manifest's timings (list, fetch
wall, batch seconds, merge), pages/s and pages/s per worker slot, and the merge's memory as the merge task
measured it in its own process (``manifest.merge_memory``: the RSS when the merge began and its peak while
it ran; the kernel's high-water mark is reset at the merge's start, so the task's start-up does not hide it).

Targets: the large size end to end <= 10x the small one; the merge's peak RSS at the large size <= 1.5x the
small one. ``COURIER_SCALE=small``: 100 and 1,000 pages. Run: ``uv run python -m bench.scale.pages``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.lib.stack import bench_stack, json_stdout, run_dag
from courier.pages.batching import RunLayout
from courier.runtime.airflow_home import PARALLELISM

REPO = Path(__file__).resolve().parents[2]
DAG = "paginated_fanout"
SIZES = {"full": (1_000, 10_000), "small": (100, 1_000)}
ROWS, LATENCY_MS = 100, 50.0
TARGETS = {"wall_ratio_at_most": 10.0, "merge_peak_rss_ratio_at_most": 1.5}
MB = 1024 * 1024


def _run(api: Any, data: Path, pages: int) -> dict[str, Any]:
    timing = run_dag(
        api, DAG, {"query": {"pages": pages, "rows": ROWS, "latency_ms": LATENCY_MS, "seed": 3}}, timeout=900
    )
    layout = RunLayout.for_run(data.as_uri(), DAG, timing["run_id"])
    manifest = json.loads((data / layout.manifest[len(data.as_uri()) + 1 :]).read_text())
    if manifest["rows"] != pages * ROWS or manifest["failed_pages"] or manifest["pages_ok"] != pages:
        raise RuntimeError(f"{pages} pages: the manifest says {manifest['pages_ok']} ok, {manifest['rows']} rows")
    memory = manifest["merge_memory"]
    slot_seconds = sum(float(b["seconds"]) for b in manifest["per_batch"])
    return {
        **timing,
        "pages": pages,
        "rows": manifest["rows"],
        "batches": manifest["batches"],
        "batch_size": manifest["batch_size"],
        "timings": manifest["timings"],
        "pages_per_second": round(pages / timing["wall_seconds"], 1),
        "pages_per_second_per_worker_slot": round(pages / timing["wall_seconds"] / PARALLELISM, 1),
        "batch_task_seconds_total": round(slot_seconds, 2),
        "pages_per_batch_task_second": round(pages / slot_seconds, 1),
        "merge_memory_mb": {
            "rss_before": round(memory["rss_before_bytes"] / MB, 1),
            "peak_rss": round(memory["peak_rss_bytes"] / MB, 1),
            "growth": round((memory["peak_rss_bytes"] - memory["rss_before_bytes"]) / MB, 1),
        },
    }


def measure() -> dict[str, Any]:
    """Run both sizes on one stack; return the figures, their ratios and the targets."""
    scale = "small" if os.environ.get("COURIER_SCALE") == "small" else "full"
    small, large = SIZES[scale]
    stack, home = bench_stack("scale-pages", [REPO / "dags" / f"{DAG}.py"])
    load_before = os.getloadavg()
    try:
        stack.start()
        api = stack.api()
        data = stack.home / "data"
        try:
            _run(api, data, 10)  # warm-up, not counted
            runs = [_run(api, data, small), _run(api, data, large)]
        finally:
            api.close()
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    one, ten = runs
    wall_ratio = ten["wall_seconds"] / one["wall_seconds"]
    rss_ratio = ten["merge_memory_mb"]["peak_rss"] / one["merge_memory_mb"]["peak_rss"]
    return {
        "benchmark": "scale_pages",
        "scale": scale,
        "command": "uv run python -m bench.scale.pages" + (" (COURIER_SCALE=small)" if scale == "small" else ""),
        "workload": {
            "rows_per_page": ROWS,
            "server_latency_ms_per_page": LATENCY_MS,
            "dag_defaults": "max_batches 64, batch_size 125, concurrency 32",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "worker_slots": PARALLELISM,
            "load_average_before": [round(x, 2) for x in load_before],
        },
        "runs": {str(small): one, str(large): ten},
        "ratios": {
            "pages": large / small,
            "wall": round(wall_ratio, 2),
            "merge_seconds": round(ten["timings"]["merge_seconds"] / max(one["timings"]["merge_seconds"], 1e-3), 2),
            "merge_peak_rss": round(rss_ratio, 3),
        },
        "targets": TARGETS,
        "targets_met": {
            "wall_ratio": wall_ratio <= TARGETS["wall_ratio_at_most"],
            "merge_peak_rss_ratio": rss_ratio <= TARGETS["merge_peak_rss_ratio_at_most"],
        },
    }


if __name__ == "__main__":
    report = json_stdout()
    report.write(json.dumps(measure()) + "\n")
    report.flush()
    sys.exit(0)
