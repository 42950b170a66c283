"""Jobs benchmark: 1000 clients submit at once; the processor takes 5 s per job; baseline one DAG run per job.

Prints one JSON object: submit latency p50/p99 and errors; seconds from the last submit until all jobs are
``success``; worker-slot-seconds of ``delayed_request`` tasks while waiting (sampled running task instances);
and the baseline (``bench/dags/bench_jobs_baseline.py``: ``HttpOperator`` + deferrable ``HttpSensor`` per
run) for 50 jobs, extrapolated to jobs per minute. Also, first: the API server's own floor, the same burst of
concurrent requests on the cheapest authenticated route (``GET /courier/health``), so the submit latency can
be read against what any authenticated request costs on this machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.lib.jobs_load import api_floor, burst, dag_runs, push_file, spread, statuses, wait_all_final
from bench.lib.stack import bench_stack, json_stdout
from courier.runtime.airflow_api import AirflowApi

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = [REPO / "dags" / "delayed_request.py", REPO / "bench" / "dags" / "bench_jobs_baseline.py"]
TARGETS = {"errors": 0, "submit_p99_ms": 500, "all_success_after_last_submit_s": 60, "speedup_vs_baseline": 20}


def courier_run(api: AirflowApi, base: str, db_url: str, count: int) -> dict[str, Any]:
    file_id = push_file(api)
    latencies, errors, first, last = burst(
        api,
        base,
        count,
        "POST",
        "/courier/jobs",
        lambda i: {"files_to_process": [file_id], "params": {"n": i}},
        202,
    )
    done, slot_seconds = wait_all_final(api, db_url, count, timeout=900)
    with psycopg.connect(db_url) as conn:
        marks = conn.execute(
            "SELECT extract(epoch FROM max(created_at)), extract(epoch FROM min(started_at)),"
            " extract(epoch FROM max(started_at)), extract(epoch FROM min(finished_at)),"
            " extract(epoch FROM max(finished_at)) FROM courier_jobs"
        ).fetchone()
    assert marks is not None
    names = ("last_created", "first_claimed", "last_claimed", "first_final", "last_final")
    timeline = {n: round(float(m) - first, 1) for n, m in zip(names, marks, strict=True) if m is not None}
    return {
        "jobs": count,
        "submit_ms": spread(latencies),
        "errors": errors,
        "submit_window_s": round(last - first, 2),
        "all_final_after_last_submit_s": round(done - last, 1),
        "statuses": statuses(db_url),
        "delayed_request_runs": dag_runs(api),
        "timeline_s_after_first_submit": timeline,
        "worker_slot_seconds_while_waiting": slot_seconds,
        "jobs_per_minute": round(count / ((done - first) / 60), 1),
    }


def baseline(api: AirflowApi, count: int) -> dict[str, Any]:
    api.unpause("bench_jobs_baseline")
    began = time.time()
    run_ids = [api.trigger("bench_jobs_baseline") for _ in range(count)]
    states = [api.wait_for_run("bench_jobs_baseline", r, 1800)["state"] for r in run_ids]
    elapsed = time.time() - began
    return {
        "jobs": count,
        "succeeded": states.count("success"),
        "seconds": round(elapsed, 1),
        "jobs_per_minute": round(count / (elapsed / 60), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=50)
    parser.add_argument("--delay", type=float, default=5.0)
    args = parser.parse_args()
    report = json_stdout()
    stack, _home = bench_stack("jobs", DAG_FILES)
    try:
        stack.start()
        httpx.post(f"{stack.demo_url}/_demo/processor/config", json={"delay": args.delay}).raise_for_status()
        api = stack.api()
        api.wait_for_dag("delayed_request", 120)
        api.unpause("delayed_request")
        try:
            floor = api_floor(api, stack.url, args.jobs)
            ours = courier_run(api, stack.url, stack.courier_url, args.jobs)
            base = baseline(api, args.baseline)
        finally:
            api.close()
    finally:
        stack.stop()
    speedup = round(ours["jobs_per_minute"] / max(base["jobs_per_minute"], 0.01), 1)
    result = {
        "benchmark": "jobs",
        "command": "uv run python -m bench.jobs",
        "processor_seconds_per_job": args.delay,
        "courier": ours,
        "api_floor_authenticated_get": floor,
        "baseline_dag_run_per_job": base,
        "speedup_jobs_per_minute": speedup,
        "targets": TARGETS,
        "targets_met": {
            "errors": ours["errors"] == 0,
            "submit_p99": ours["submit_ms"]["p99"] <= TARGETS["submit_p99_ms"],
            "all_success": ours["all_final_after_last_submit_s"] <= TARGETS["all_success_after_last_submit_s"]
            and ours["statuses"].get("success", 0) == ours["jobs"],
            "speedup": speedup >= TARGETS["speedup_vs_baseline"],
        },
    }
    print(json.dumps(result, indent=2), file=report, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
