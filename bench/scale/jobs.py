"""The jobs part of bench/scale/ (issue #20, items 2 and 3): ten thousand jobs, and the single submit's cost.

One stack, one run, in this order (the demo processor takes 5 s per job):

1. the floor: N concurrent ``GET /courier/health`` (the cheapest authenticated route);
2. N concurrent ``POST /courier/jobs`` (p99 against the floor's p99: target ≤ 1.5 times), then they drain;
3. 1 k jobs in ONE ``POST /courier/jobs/batch`` (accepted in ≤ 1 s), then the time from that answer until
   all are ``success``;
4. 10 k jobs in batches of 1,000 (two requests at a time), the submit rate, then the time from the last
   answer until all are ``success`` (target ≤ 11 times the 1 k drain: linear).

Worker-slot-seconds are sampled running task instances of ``delayed_request`` while each phase drains.
``COURIER_SCALE=small`` runs tiny sizes (development); ``COURIER_SCALE_PROFILE=<file>`` records the API
server with py-spy (``--format raw``, every process) during step 2, for finding where a submit's time goes
(the figures of a profiled run are not representative). ``measure()`` returns the JSON-able report.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from bench.lib.jobs_load import (
    api_floor,
    burst,
    dag_runs,
    job_count,
    open_jobs,
    push_file,
    spread,
    statuses,
    wait_all_final,
)
from bench.lib.stack import bench_stack, json_stdout
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.processes import tagged_processes
from courier.runtime.stack import Stack

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = [REPO / "dags" / "delayed_request.py"]
PROCESSOR_SECONDS = 5.0
SIZES = {
    "full": {"burst": 1000, "small_drain": 1000, "large_drain": 10_000, "batch": 1000},
    "small": {"burst": 50, "small_drain": 100, "large_drain": 1000, "batch": 100},
    "mid": {"burst": 1000, "small_drain": 1000, "large_drain": 3000, "batch": 1000},
    "profile": {"burst": 1000, "small_drain": 10, "large_drain": 20, "batch": 10},
}
WAIT_SECONDS = float(os.environ.get("COURIER_SCALE_WAIT", "1800"))
"""How long a phase may take to drain before the run gives up on it (its statuses then show what is left)."""
TARGETS = {
    "single_submit_p99_vs_floor_p99": 1.5,
    "batch_of_1000_accepted_s": 1.0,
    "large_drain_vs_small_drain": 11.0,
}
BATCHES_AT_ONCE = 2


async def _post_batches(base: str, token: str, bodies: list[dict[str, Any]]) -> tuple[list[float], list[int]]:
    """POST each body to /courier/jobs/batch, :data:`BATCHES_AT_ONCE` at a time: (seconds, status) of each."""
    seconds: list[float] = [0.0] * len(bodies)
    codes: list[int] = [0] * len(bodies)
    gate = asyncio.Semaphore(BATCHES_AT_ONCE)
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    ) as http:

        async def one(i: int) -> None:
            async with gate:
                began = time.perf_counter()
                async with http.post("/courier/jobs/batch", json=bodies[i]) as answer:
                    await answer.read()
                    codes[i] = answer.status
                seconds[i] = time.perf_counter() - began

        await asyncio.gather(*(one(i) for i in range(len(bodies))))
    return seconds, codes


def _jobs(file_id: str, phase: str, count: int) -> list[dict[str, Any]]:
    return [{"files_to_process": [file_id], "params": {"phase": phase, "n": i}} for i in range(count)]


def drain(api: AirflowApi, base: str, db_url: str, file_id: str, phase: str, count: int, batch: int) -> dict[str, Any]:
    """Submit ``count`` jobs in batches of ``batch``; wait until every job is final."""
    bodies = [{"jobs": _jobs(file_id, phase, min(batch, count - i))} for i in range(0, count, batch)]
    before = job_count(db_url)
    first = time.time()
    seconds, codes = asyncio.run(_post_batches(base, api.token(), bodies))
    last = time.time()
    done, slot_seconds = wait_all_final(api, db_url, before + count, WAIT_SECONDS)
    left = open_jobs(db_url)
    return {
        "jobs": count,
        "batch_requests": len(bodies),
        "batch_seconds": {"max": round(max(seconds), 3), "mean": round(sum(seconds) / len(seconds), 3)},
        "errors": sum(code != 202 for code in codes),
        "submit_window_s": round(last - first, 2),
        "submit_jobs_per_second": round(count / max(last - first, 1e-6), 1),
        "all_final_after_last_submit_s": None if left else round(done - last, 1),
        "gave_up_after_s": round(done - last, 1) if left else None,
        "statuses": statuses(db_url, first - 1),
        "worker_slot_seconds": slot_seconds,
        "jobs_per_worker_slot_second": round(count / slot_seconds, 1) if slot_seconds else None,
        "jobs_per_second_drained": None if left else round(count / max(done - first, 1e-6), 1),
    }


def _profiler(stack: Stack, out: str, seconds: int) -> subprocess.Popen[bytes]:
    """py-spy recording every API server process (the uvicorn parent and its workers) for ``seconds``."""
    # the API server's own process rewrites its environment (its process title), so it is found as the
    # parent of its tagged workers
    parent = tagged_processes(stack.stack_id, "api-server")[0].ppid()
    argv = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(parent), "--subprocesses"]
    argv += ["--duration", str(seconds), "--rate", "50", "--format", "raw", "--output", out, "--nonblocking"]
    return subprocess.Popen(argv, stdout=sys.stderr, stderr=sys.stderr)


def single_submits(
    api: AirflowApi, stack: Stack, db_url: str, file_id: str, count: int, profile: str | None
) -> dict[str, Any]:
    before = job_count(db_url)
    spy = _profiler(stack, profile, 40) if profile else None
    if spy:
        time.sleep(2)
    latencies, errors, first, last = burst(
        api,
        stack.url,
        count,
        "POST",
        "/courier/jobs",
        lambda i: {"files_to_process": [file_id], "params": {"phase": "single", "n": i}},
        202,
    )
    if spy:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT (not on SIGTERM)
        spy.wait(60)
    done, slot_seconds = wait_all_final(api, db_url, before + count, WAIT_SECONDS)
    return {
        "jobs": count,
        "submit_ms": spread(latencies),
        "errors": errors,
        "submit_window_s": round(last - first, 2),
        "submit_jobs_per_second": round(count / max(last - first, 1e-6), 1),
        "all_final_after_last_submit_s": round(done - last, 1),
        "statuses": statuses(db_url, first - 1),
        "worker_slot_seconds": slot_seconds,
    }


def measure(scale: str | None = None, profile: str | None = None) -> dict[str, Any]:
    """Run every jobs figure of issue #20 on one fresh stack; return them with ratios, targets and verdicts."""
    scale = scale or os.environ.get("COURIER_SCALE", "full")
    profile = profile or os.environ.get("COURIER_SCALE_PROFILE") or None
    sizes = SIZES[scale]
    stack, _home = bench_stack("scale-jobs", DAG_FILES)
    began = time.time()
    try:
        stack.start()
        httpx.post(f"{stack.demo_url}/_demo/processor/config", json={"delay": PROCESSOR_SECONDS}).raise_for_status()
        db_url = stack.courier_url
        api = stack.api()
        try:
            api.wait_for_dag("delayed_request", 120)
            api.unpause("delayed_request")
            file_id = push_file(api)
            floor = api_floor(api, stack.url, sizes["burst"])
            single = single_submits(api, stack, db_url, file_id, sizes["burst"], profile)
            small = drain(api, stack.url, db_url, file_id, "small", sizes["small_drain"], sizes["batch"])
            large = drain(api, stack.url, db_url, file_id, "large", sizes["large_drain"], sizes["batch"])
            runs = dag_runs(api)
        finally:
            api.close()
    finally:
        stack.stop()
    workers = stack.api_workers
    single_ratio = round(single["submit_ms"]["p99"] / max(floor["ms"]["p99"], 1e-6), 2)
    drains = (small["all_final_after_last_submit_s"], large["all_final_after_last_submit_s"])
    drain_ratio = round(drains[1] / max(drains[0], 1e-6), 2) if None not in drains else None  # type: ignore[operator]
    size_ratio = sizes["large_drain"] / sizes["small_drain"]
    drain_target = TARGETS["large_drain_vs_small_drain"] * size_ratio / 10
    one_batch_s = small["batch_seconds"]["max"]
    all_success = all(
        phase["statuses"].get("success", 0) == phase["jobs"] and phase["errors"] == 0
        for phase in (single, small, large)
    )
    return {
        "benchmark": "scale_jobs",
        "command": ("" if scale == "full" else f"COURIER_SCALE={scale} ") + "uv run python -m bench.scale.jobs",
        "scale": scale,
        "processor_seconds_per_job": PROCESSOR_SECONDS,
        "api_server_processes": workers,
        "executor_parallelism": 4,
        "wall_s": round(time.time() - began, 1),
        "api_floor_health": floor,
        "single_submit": single,
        "single_submit_p99_vs_floor_p99": single_ratio,
        "batch_small": small,
        "batch_large": large,
        "batch_request_of_size_accepted_s": {str(sizes["batch"]): one_batch_s},
        "large_drain_vs_small_drain": drain_ratio,
        "drain_size_ratio": size_ratio,
        "delayed_request_runs": runs,
        "per_process": {
            "single_submits_per_second_per_api_process": round(single["submit_jobs_per_second"] / workers, 1),
            "batch_submits_per_second_per_api_process": round(large["submit_jobs_per_second"] / workers, 1),
            "jobs_per_worker_slot_second": large["jobs_per_worker_slot_second"],
            "jobs_drained_per_second_one_triggerer": large["jobs_per_second_drained"],
        },
        "targets": {**TARGETS, "large_drain_vs_small_drain": round(drain_target, 2)},
        "targets_met": {
            "single_submit_p99_vs_floor_p99": single_ratio <= TARGETS["single_submit_p99_vs_floor_p99"],
            "batch_of_1000_accepted_s": one_batch_s <= TARGETS["batch_of_1000_accepted_s"],
            "large_drain_vs_small_drain": drain_ratio is not None and drain_ratio <= drain_target,
            "all_success_no_errors": all_success,
        },
    }


if __name__ == "__main__":
    report = json_stdout()
    print(json.dumps(measure()), file=report, flush=True)
