"""Stats ingest throughput and roll-up time on the real stack, vs one INSERT per event.

Everything runs through the real stack (embedded PostgreSQL, Airflow's API server as ``courier up`` runs it,
with the ``stats_rollup`` DAG live every minute):

* ingest: ``--clients`` threads post pre-encoded JSON batches of ``--batch`` events to ``POST /courier/stats``
  for ``--seconds`` -> events/s accepted (202 = committed), batch latency p50 / p99, and the raw rows counted
  in the database afterwards (must equal the accepted events);
* responsiveness meanwhile: ``GET /courier/health`` every 100 ms -> p99;
* roll-up: 1,000,000 raw events over 5 minutes (20 names x 3 tag sets), one ``StatsStore.rollup()`` -> seconds;
* baseline (same run): the design Courier replaces, an HTTP ``POST /stats`` whose every event is one
  ``INSERT`` and one commit (``bench/_poc_stats.py``: FastAPI on one uvicorn worker, a kept connection per
  thread), posted to by the same ``--clients`` with the same batches over keep-alive connections, for
  ``--baseline-seconds`` -> events/s committed (rows in its table when the time is up, so a batch cut off
  half-way counts the rows it committed). ``vs_baseline`` is Courier's ingest over this figure;
* also reported, labelled ``baseline_python_loop_no_http``: one ``INSERT`` per event from a single Python loop
  straight into PostgreSQL, no HTTP (the figure earlier versions of this benchmark compared against), and
  ``vs_python_loop``.

Prints one JSON object. Command: ``uv run python bench/stats.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

from _stack import bench_stack, json_stdout
from courier.runtime.postgres import free_port
from courier.stats.store import StatsStore

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = [REPO / "dags" / "stats_rollup.py"]
TARGETS = {"events_per_second": 50_000, "vs_baseline": 50.0, "health_p99_ms": 200.0, "rollup_1m_seconds": 15.0}
NAMES = [f"bench.metric_{i}" for i in range(20)]
TAGS = [{"host": "h1", "route": "/a"}, {"host": "h2", "route": "/b"}, {}]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def _bodies(batch: int, count: int) -> list[bytes]:
    rng = random.Random(7)
    return [
        json.dumps(
            [
                {
                    "name": rng.choice(NAMES),
                    "value": round(rng.gauss(100, 25), 3),
                    "type": "timer",
                    "tags": rng.choice(TAGS),
                }
                for _ in range(batch)
            ]
        ).encode()
        for _ in range(count)
    ]


def _ingest(url: str, token: str, clients: int, batch: int, seconds: float) -> dict[str, Any]:
    bodies = _bodies(batch, 8)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = [0] * clients
    latencies: list[float] = []
    refused: list[str] = []
    health: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(index: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            turn = index
            while not stop.is_set():
                began = time.perf_counter()
                answer = http.post("/courier/stats", content=bodies[turn % len(bodies)])
                took = time.perf_counter() - began
                turn += 1
                with lock:
                    if answer.status_code == 202:
                        accepted[index] += int(answer.json()["accepted"])
                        latencies.append(took * 1000)
                    else:
                        refused.append(f"{answer.status_code} {answer.text[:200]}")

    def prober() -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            while not stop.is_set():
                began = time.perf_counter()
                http.get("/courier/health").raise_for_status()
                health.append((time.perf_counter() - began) * 1000)
                time.sleep(0.1)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)] + [threading.Thread(target=prober)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    total = sum(accepted)
    return {
        "clients": clients,
        "batch_events": batch,
        "seconds": round(wall, 2),
        "events_accepted": total,
        "events_per_second": round(total / wall),
        "batches": len(latencies),
        "batch_latency_p50_ms": round(_pct(latencies, 0.5), 1),
        "batch_latency_p99_ms": round(_pct(latencies, 0.99), 1),
        "refused": refused[:3],
        "health_probes": len(health),
        "health_p50_ms": round(_pct(health, 0.5), 1),
        "health_p99_ms": round(_pct(health, 0.99), 1),
    }


def _raw_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        return int(conn.execute("SELECT count(*) FROM courier_stat_events").fetchone()[0])  # type: ignore[index]


def _baseline_http(db_url: str, clients: int, batch: int, seconds: float) -> dict[str, Any]:
    """The replaced design: ``--clients`` post the same batches to an HTTP ``/stats`` that INSERTs and commits
    each event (``bench/_poc_stats.py``, its own process); events/s = rows committed when the time is up."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_poc_stats")
    server = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "_poc_stats.py"), "--port", str(port), "--db", db_url]
    )
    bodies = _bodies(batch, 8)
    answered = [0] * clients
    stop = threading.Event()

    def client(index: int) -> None:
        with httpx.Client(base_url=url, headers={"Content-Type": "application/json"}, timeout=None) as http:
            turn = index
            while not stop.is_set():  # one client, one kept-alive connection
                try:
                    answer = http.post("/stats", content=bodies[turn % len(bodies)])
                except httpx.HTTPError:
                    return  # the server is stopped under a batch at the end
                answer.raise_for_status()
                answered[index] += 1
                turn += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/ready", timeout=2).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        began = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(seconds)
        with psycopg.connect(db_url) as conn:
            committed = int(conn.execute("SELECT count(*) FROM bench_poc_stats").fetchone()[0])  # type: ignore[index]
        wall = time.perf_counter() - began
        stop.set()
    finally:
        server.kill()
        server.wait(30)
        stop.set()
        for t in threads:
            t.join()
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_poc_stats")
    return {
        "design": "HTTP POST /stats, one INSERT + commit per event (bench/_poc_stats.py, 1 uvicorn worker)",
        "clients": clients,
        "batch_events": batch,
        "seconds": round(wall, 2),
        "events_committed": committed,
        "batches_answered": sum(answered),
        "events_per_second": round(committed / wall),
    }


def _baseline(db_url: str, seconds: float) -> dict[str, Any]:
    """One INSERT (and commit) per event into a plain table from one Python loop, no HTTP in front."""
    rng = random.Random(3)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_poc_stats (name text, value float8, tags jsonb, ts timestamptz)")
        done = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            conn.execute(
                "INSERT INTO bench_poc_stats VALUES (%s, %s, %s, now())",
                (rng.choice(NAMES), rng.gauss(100, 25), json.dumps(rng.choice(TAGS))),
            )
            done += 1
        wall = time.perf_counter() - began
        conn.execute("DROP TABLE bench_poc_stats")
    return {"events": done, "seconds": round(wall, 2), "events_per_second": round(done / wall)}


def _rollup_million(db_url: str, events: int) -> dict[str, Any]:
    store = StatsStore(db_url)
    _rolled(store)  # what the ingest phase left: rolled up first, so only the million is timed
    base = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=7)
    rng = random.Random(11)
    load_began = time.perf_counter()
    chunk = 50_000
    for start in range(0, events, chunk):
        minute = base + timedelta(minutes=(start * 5) // events)
        rows = [
            (
                minute,
                minute + timedelta(microseconds=rng.randrange(60_000_000)),
                rng.choice(NAMES),
                json.dumps(rng.choice(TAGS), sort_keys=True, separators=(",", ":")),
                "timer",
                rng.gauss(100, 25),
            )
            for _ in range(min(chunk, events - start))
        ]
        store.ingest(rows)
    loaded = time.perf_counter() - load_began
    with psycopg.connect(db_url, autocommit=True) as conn:  # a live DAG run may have rolled some up meanwhile:
        conn.execute(  # mark all five dirty again, so the timed roll-up aggregates every one of the million
            "INSERT INTO courier_stat_dirty (minute) SELECT generate_series(%s::timestamptz, %s, '1 minute') "
            "ON CONFLICT DO NOTHING",
            (base, base + timedelta(minutes=4)),
        )
    began = time.perf_counter()
    result = _rolled(store)
    took = time.perf_counter() - began
    return {"events": events, "load_seconds": round(loaded, 2), "rollup_seconds": round(took, 2), "result": result}


def _rolled(store: StatsStore) -> dict[str, Any]:
    while True:  # the live DAG may hold the roll-up lock for a moment
        result = store.rollup()
        if "skipped" not in result:
            return result
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--rollup-events", type=int, default=1_000_000)
    args = parser.parse_args()
    report = json_stdout()
    stack, _home = bench_stack("stats", DAG_FILES)
    try:
        stack.start()
        api = stack.api()
        db_url = stack.env["AIRFLOW_CONN_COURIER_DB"]
        token = api.token()
        # warm up: the first request imports and builds the Courier app
        api.request("POST", "/courier/stats", json=[{"name": "bench.warmup", "value": 1}]).raise_for_status()
        before = _raw_count(db_url)
        ingest = _ingest(stack.url, token, args.clients, args.batch, args.seconds)
        stored = _raw_count(db_url) - before  # a concurrent prune only drops minutes older than 11 minutes
        ingest["events_in_database"] = stored
        baseline = _baseline_http(db_url, args.clients, args.batch, args.baseline_seconds)
        python_loop = _baseline(db_url, args.baseline_seconds)
        api.request("PATCH", "/api/v2/dags/stats_rollup", json={"is_paused": True}).raise_for_status()
        rollup = _rollup_million(db_url, args.rollup_events)
        figures = {
            "command": "uv run python bench/stats.py",
            "ingest": ingest,
            "rollup_1m": rollup,
            "baseline_http_one_insert_per_event": baseline,
            "vs_baseline": round(ingest["events_per_second"] / max(baseline["events_per_second"], 1), 1),
            "baseline_python_loop_no_http": {
                "design": "one INSERT + commit per event from one Python loop, straight into PostgreSQL, no HTTP",
                **python_loop,
            },
            "vs_python_loop": round(ingest["events_per_second"] / max(python_loop["events_per_second"], 1), 1),
            "targets": TARGETS,
        }
        figures["met"] = {
            "events_per_second": ingest["events_per_second"] >= TARGETS["events_per_second"],
            "vs_baseline": figures["vs_baseline"] >= TARGETS["vs_baseline"],
            "health_p99_ms": ingest["health_p99_ms"] <= TARGETS["health_p99_ms"],
            "rollup_1m_seconds": rollup["rollup_seconds"] <= TARGETS["rollup_1m_seconds"],
            "nothing_lost": stored == ingest["events_accepted"],
        }
        print(json.dumps(figures, indent=2), file=report, flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
