"""Benchmark: 300 synthetic spec cells over 8 workers through the real scheduler, queue versus static splits.

Starts a real embedded stack (PostgreSQL, Airflow with LocalExecutor at parallelism 10, so 8 workers run at
once) in a temporary home with Courier's ``spec_matrix`` and the baselines of
``bench/dags/bench_specs_baselines.py``, and a generated spec list of 300 cells (``sleep`` for a known
duration, 0.2-4 s, long tail). The list is **skewed** the way suites grow: specs come in features of 8 and
each feature's first spec is its long end-to-end flow, so a round-robin split hands every long cell to the
same share. Runs, one after another:

1. ``spec_matrix`` cold (no history: list order), then again warm (history: longest expected first) —
   the warm run is the measured one. Makespan is from the cells' own attempt times (first start to last end);
   wall is from the trigger call to the run's success (scheduler, plan and report included).
2. ``bench_specs_static``: the static round-robin split over 8 mapped tasks (cell i -> share i mod 8).
3. ``bench_specs_per_cell``: one mapped task per cell, on all cells (``--per-cell-subset N`` measures N
   cells and extrapolates linearly, for a quick look).

Ideal = max(sum of durations / 8, longest cell). Prints one JSON object. Run: ``uv run python -m bench.specs``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Any

from bench.fanout import run_dag
from bench.lib.stack import bench_stack, json_stdout

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = (REPO / "dags" / "spec_matrix.py", REPO / "bench" / "dags" / "bench_specs_baselines.py")
WORKERS = 8
FEATURE = 8
TARGET_OVERHEAD_SECONDS = 15.0
TARGET_MAKESPAN_FACTOR = 1.15
TARGET_SPEEDUP_VS_STATIC = 1.3
TARGET_SPEEDUP_VS_PER_CELL = 5.0


def durations(cells: int, seed: int = 10) -> list[float]:
    """Known cell durations: each feature's first spec 2-4 s (the tail), the others 0.2-1.2 s, skewed low."""
    rng = random.Random(seed)
    return [
        round(rng.uniform(2.0, 4.0), 2) if i % FEATURE == 0 else round(0.2 + rng.random() ** 2.5, 2)
        for i in range(cells)
    ]


def write_spec_list(folder: Path, seconds: list[float]) -> Path:
    specs = [
        {"id": f"f{i // FEATURE:02d}-s{i % FEATURE}", "run": ["sleep", str(s)], "timeout": 60}
        for i, s in enumerate(seconds)
    ]
    data = {"browsers": ["chromium"], "viewports": {"desktop": [1280, 800]}, "specs": specs}
    path = folder / "bench-specs.json"
    path.write_text(json.dumps(data))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--per-cell-subset", type=int, default=0, help="0: every cell")
    args = parser.parse_args()
    args.per_cell_subset = args.per_cell_subset or args.cells
    report = json_stdout()
    stack, home = bench_stack("specs", list(DAG_FILES))
    stack.extra_env["AIRFLOW__CORE__PARALLELISM"] = str(WORKERS + 2)  # 8 workers + plan/report at once
    seconds = durations(args.cells)
    spec_list = write_spec_list(home, seconds)
    ideal = max(sum(seconds) / WORKERS, max(seconds))
    static_shares = [sum(seconds[i::WORKERS]) for i in range(WORKERS)]
    load_before = os.getloadavg()
    conf = {"spec_list": str(spec_list), "workers": WORKERS, "base_url": "http://127.0.0.1:9"}
    runs: dict[str, Any] = {}
    try:
        stack.start()
        api = stack.api()
        try:
            for name in ("cold", "warm"):
                timing = run_dag(api, "spec_matrix", conf, timeout=900)
                counts = api.request("GET", f"/courier/specs/runs/{timing['run_id']}").json()["counts"]
                assert counts["passed"] == args.cells and counts["failed"] == 0, counts
                runs[name] = {
                    **timing,
                    "makespan_seconds": counts["makespan_s"],
                    "cell_seconds": counts["cell_seconds"],
                }
            runs["static"] = run_dag(api, "bench_specs_static", {"spec_list": str(spec_list), "shares": WORKERS}, 1800)
            runs["per_cell"] = run_dag(
                api, "bench_specs_per_cell", {"spec_list": str(spec_list), "limit": args.per_cell_subset}, 1800
            )
        finally:
            api.close()
    finally:
        stack.stop()

    warm, static, per_cell = runs["warm"], runs["static"], runs["per_cell"]
    per_cell_extrapolated = per_cell["wall_seconds"] * args.cells / args.per_cell_subset
    result = {
        "benchmark": "specs",
        "command": "uv run python -m bench.specs",
        "workload": {
            "cells": args.cells,
            "workers": WORKERS,
            "sum_seconds": round(sum(seconds), 1),
            "longest_seconds": max(seconds),
            "shortest_seconds": min(seconds),
            "ideal_seconds": round(ideal, 2),
            "skew": f"every {FEATURE}th cell (each feature's first spec) is a 2-4 s end-to-end flow",
        },
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before]},
        "courier_queue_cold": runs["cold"],
        "courier_queue_warm": warm,
        "makespan_over_ideal": round(warm["makespan_seconds"] / ideal, 3),
        "airflow_overhead_seconds": round(warm["wall_seconds"] - warm["makespan_seconds"], 2),
        "baseline_static_round_robin": {
            **static,
            "largest_share_seconds": round(max(static_shares), 1),
            "smallest_share_seconds": round(min(static_shares), 1),
        },
        "baseline_one_task_per_cell": {
            **per_cell,
            "cells": args.per_cell_subset,
            "note": "measured on every cell"
            if args.per_cell_subset == args.cells
            else f"measured on {args.per_cell_subset} cells, extrapolated linearly to {args.cells}",
            "extrapolated_wall_seconds": round(per_cell_extrapolated, 1),
            "tasks_per_second": round(args.per_cell_subset / per_cell["wall_seconds"], 2),
        },
        "speedup_vs_static": round(static["wall_seconds"] / warm["wall_seconds"], 2),
        "speedup_vs_one_task_per_cell": round(per_cell_extrapolated / warm["wall_seconds"], 2),
        "targets": {
            "wall_at_most": f"{TARGET_MAKESPAN_FACTOR} x ideal + {TARGET_OVERHEAD_SECONDS:g} s",
            "speedup_vs_static_at_least": TARGET_SPEEDUP_VS_STATIC,
            "speedup_vs_one_task_per_cell_at_least": TARGET_SPEEDUP_VS_PER_CELL,
        },
    }
    result["targets_met"] = {
        "wall": warm["wall_seconds"] <= TARGET_MAKESPAN_FACTOR * ideal + TARGET_OVERHEAD_SECONDS,
        "speedup_vs_static": result["speedup_vs_static"] >= TARGET_SPEEDUP_VS_STATIC,
        "speedup_vs_one_task_per_cell": result["speedup_vs_one_task_per_cell"] >= TARGET_SPEEDUP_VS_PER_CELL,
    }
    shutil.rmtree(home, ignore_errors=True)
    report.write(json.dumps(result, indent=2) + "\n")
    report.flush()
    return 0 if all(result["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
