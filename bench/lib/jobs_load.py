"""What the jobs benchmarks share (bench/jobs.py, bench/scale/jobs.py): concurrent bursts on the API server,
its floor (the cheapest authenticated route), and waiting for every job to be final while sampling the worker
slots ``delayed_request`` holds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import psycopg

from courier.runtime.airflow_api import AirflowApi

DAG_ID = "delayed_request"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0


def spread(latencies: list[float]) -> dict[str, float]:
    """p50 / p99 / max of ``latencies`` (ms)."""
    return {"p50": pct(latencies, 0.5), "p99": pct(latencies, 0.99), "max": pct(latencies, 1.0)}


async def _burst(
    base: str, token: str, count: int, method: str, path: str, body: Callable[[int], Any], ok_status: int
) -> tuple[list[float], int, float, float]:
    """``count`` concurrent requests, one connection each, released together; each latency is from the gate
    opening to that request's full answer (aiohttp: httpx's async pool is itself the bottleneck at this
    concurrency). ``body(i)`` gives request ``i``'s JSON body (None: no body)."""
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=count, limit_per_host=count)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, connector=connector, timeout=timeout
    ) as http:
        gate = asyncio.Event()

        async def one(i: int) -> None:
            nonlocal errors
            await gate.wait()
            began = time.perf_counter()
            try:
                async with http.request(method, path, json=body(i)) as answer:
                    await answer.read()
                    ok = answer.status == ok_status
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            latencies.append((time.perf_counter() - began) * 1000)
            errors += not ok

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        await asyncio.sleep(0.5)
        first = time.time()
        gate.set()
        await asyncio.gather(*tasks)
        return latencies, errors, first, time.time()


def burst(
    api: AirflowApi, base: str, count: int, method: str, path: str, body: Callable[[int], Any], ok_status: int
) -> tuple[list[float], int, float, float]:
    """Run :func:`_burst` with a fresh token: (latencies in ms, errors, first sent, last answered)."""
    return asyncio.run(_burst(base, api.token(), count, method, path, body, ok_status))


def api_floor(api: AirflowApi, base: str, count: int) -> dict[str, Any]:
    """The same burst on the cheapest authenticated route (``GET /courier/health``: login only, no database
    round trip): what the API server itself needs for ``count`` concurrent authenticated requests."""
    latencies, errors, first, last = burst(api, base, count, "GET", "/courier/health", lambda i: None, 200)
    return {
        "requests": count,
        "ms": spread(latencies),
        "errors": errors,
        "requests_per_second": round(count / max(last - first, 1e-6), 1),
    }


def push_file(api: AirflowApi) -> str:
    pushed = api.request("POST", "/courier/jobs/files", files={"file": ("bench.csv", b"a,b\n1,2\n", "text/csv")})
    pushed.raise_for_status()
    return str(pushed.json()["file_id"])


def wait_all_final(api: AirflowApi, db_url: str, total: int, timeout: float = 1800) -> tuple[float, float]:
    """Wait until ``total`` jobs exist and none is queued or processing; return (when, worker-slot-seconds of
    ``delayed_request`` tasks meanwhile, sampled every 0.5 s from the running task instances)."""
    slot_seconds = 0.0
    step = 0.5
    deadline = time.time() + timeout
    while time.time() < deadline:
        with psycopg.connect(db_url) as conn:
            row = conn.execute(
                "SELECT count(*) FILTER (WHERE status IN ('queued', 'processing')), count(*) FROM courier_jobs"
            ).fetchone()
        assert row is not None
        if row[1] >= total and row[0] == 0:  # every job final (success, or failed with its reason)
            break
        running = api.request(
            "GET", f"/api/v2/dags/{DAG_ID}/dagRuns/~/taskInstances", params={"state": "running", "limit": 1}
        ).json()["total_entries"]
        slot_seconds += running * step
        time.sleep(step)
    return time.time(), round(slot_seconds, 1)


def job_count(db_url: str) -> int:
    """How many jobs exist now (a phase waits for its own on top of these)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM courier_jobs").fetchone()
    return int(row[0]) if row else 0


def open_jobs(db_url: str) -> int:
    """Jobs still queued or processing (a drain that gave up leaves some)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM courier_jobs WHERE status IN ('queued', 'processing')").fetchone()
    return int(row[0]) if row else 0


def statuses(db_url: str, since: float = 0.0) -> dict[str, int]:
    """Jobs per status, of those created at or after ``since`` (UNIX time)."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT status, count(*) FROM courier_jobs WHERE created_at >= to_timestamp(%s) GROUP BY status",
            (since,),
        ).fetchall()
    return {str(s): int(n) for s, n in rows}


def dag_runs(api: AirflowApi) -> int:
    return int(api.request("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 1}).json()["total_entries"])
