"""Stats ingest throughput and roll-up time on the real stack, vs one INSERT per event.

Everything runs through the real stack (embedded PostgreSQL, Airflow's API server as ``courier up`` runs it,
with the ``stats_rollup`` DAG live every minute):

* ingest, once per size in ``--batch`` (default 1,000, 2,000 and 5,000: the range the issue names), the
  previous run's events rolled up before the next starts: ``--clients`` threads post pre-encoded JSON
  batches of that many events, each on a new connection, to ``POST /courier/stats``
  for ``--seconds`` -> events/s accepted (202 = committed), batch latency p50 / p99, and the raw rows counted
  in the database afterwards (must equal the accepted events);
* responsiveness meanwhile: ``GET /courier/health`` every 100 ms -> p99;
* roll-up: 1,000,000 raw events over 5 minutes (20 names x 3 tag sets), one ``StatsStore.rollup()`` -> seconds;
* baseline (same run): the design Courier replaces, an HTTP ``POST /stats`` whose every event is one
  ``INSERT`` and one commit (``bench/lib/poc_stats.py``: FastAPI on one uvicorn worker, a kept connection per
  thread; it waits on commits, not on its CPU, so a second worker would not serve 4 clients faster),
  posted to by the same ``--clients`` with the same batches, each on a new connection, for
  ``--baseline-seconds`` -> events/s committed (rows in its table when the time is up, so a batch cut off
  half-way counts the rows it committed), with the largest of the ``--batch`` sizes; measured before and
  again after Courier's runs, and ``vs_baseline`` (per batch size) is Courier's ingest over the better of
  the two;
* also reported, labelled ``baseline_python_loop_no_http``: one ``INSERT`` per event from a single Python loop
  straight into PostgreSQL, no HTTP (the figure earlier versions of this benchmark compared against), and
  ``vs_python_loop``.

Prints one JSON object. Command: ``uv run python -m bench.stats``.
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

from bench.lib.stack import bench_stack, json_stdout
from courier.runtime.postgres import free_port
from courier.stats.store import GRACE, StatsStore

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = [REPO / "dags" / "stats_rollup.py"]
TARGETS = {"events_per_second": 50_000, "vs_baseline": 50.0, "health_p99_ms": 200.0, "rollup_1m_seconds": 15.0}
NAMES = [f"bench.metric_{i}" for i in range(20)]
TAGS = [{"host": "h1", "route": "/a"}, {"host": "h2", "route": "/b"}, {}]
ONE_CONNECTION_PER_BATCH = httpx.Limits(max_keepalive_connections=0)
"""Each batch on a new connection, as independent senders flushing now and then do; the server's kernel then
hands each connection to whichever API-server process accepts first. (With 4 kept-alive connections opened
at once, one process's accept loop takes all 4 and the other serves none.)"""


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


def ingest_run(url: str, token: str, clients: int, batch: int, seconds: float, keep_alive: bool) -> dict[str, Any]:
    bodies = _bodies(batch, 8)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    accepted = [0] * clients
    latencies: list[float] = []
    refused: list[str] = []
    health: list[float] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(index: int) -> None:
        limits = httpx.Limits() if keep_alive else ONE_CONNECTION_PER_BATCH
        with httpx.Client(base_url=url, headers=headers, timeout=60, limits=limits) as http:
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


def raw_count(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT coalesce(sum(cardinality(vals)), 0) FROM courier_stat_chunks").fetchone()
        return int(row[0])  # type: ignore[index]


def _baseline_http(db_url: str, clients: int, batch: int, seconds: float, keep_alive: bool) -> dict[str, Any]:
    """The replaced design: ``--clients`` post the same batches to an HTTP ``/stats`` that INSERTs and commits
    each event (``bench/lib/poc_stats.py``, its own process); events/s = rows committed when the time is up."""
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
        headers = {"Content-Type": "application/json"}
        limits = httpx.Limits() if keep_alive else ONE_CONNECTION_PER_BATCH
        with httpx.Client(base_url=url, headers=headers, timeout=None, limits=limits) as http:
            turn = index
            while not stop.is_set():
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
        "design": "HTTP POST /stats, one INSERT + commit per event (bench/lib/poc_stats.py, 1 uvicorn worker)",
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
            "INSERT INTO courier_stat_dirty (minute) SELECT generate_series(%s::timestamptz, %s, '1 minute')",
            (base, base + timedelta(minutes=4)),
        )
    # only these five minutes: the ingest runs' newest may still be open, and dirty; timed is the call that ran
    # (a live run started before the pause may hold the roll-up lock first: waiting for it is not counted)
    result, took = rolled_timed(store, now=base + timedelta(minutes=5) + GRACE)
    return {"events": events, "load_seconds": round(loaded, 2), "rollup_seconds": round(took, 2), "result": result}


def _settle(store: StatsStore) -> None:
    """Roll up what a run left once its last minute has closed (up to 65 s), so the next run competes only
    with the live roll-up of its own events, not with the previous run's."""
    now = datetime.now(UTC)
    closed = now.replace(second=0, microsecond=0) + timedelta(minutes=1) + GRACE
    time.sleep((closed - now).total_seconds())
    _rolled(store)


def _rolled(store: StatsStore, now: datetime | None = None) -> dict[str, Any]:
    return rolled_timed(store, now)[0]


def rolled_timed(store: StatsStore, now: datetime | None = None) -> tuple[dict[str, Any], float]:
    """One roll-up, and the seconds of the call that ran (the live DAG may hold the roll-up lock a while)."""
    while True:
        began = time.perf_counter()
        result = store.rollup(now)
        if "skipped" not in result:
            return result, time.perf_counter() - began
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--batch", default="1000,2000,5000", help="events per batch; several (comma-separated): one run each"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--keep-alive", action="store_true", help="each client keeps one connection (the default: one per batch)"
    )
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--rollup-events", type=int, default=1_000_000)
    args = parser.parse_args()
    sizes = [int(size) for size in args.batch.split(",")]
    report = json_stdout()
    stack, _home = bench_stack("stats", DAG_FILES)
    try:
        stack.start()
        api = stack.api()
        db_url = stack.courier_url
        token = api.token()
        # warm up: the first request imports and builds the Courier app
        api.request("POST", "/courier/stats", json=[{"name": "bench.warmup", "value": 1}]).raise_for_status()
        # the baselines first, on the quiet stack (before Courier's ingest leaves roll-ups to do); the HTTP one
        # again after Courier's runs, and the better of the two is the one compared with
        first = _baseline_http(db_url, args.clients, max(sizes), args.baseline_seconds, args.keep_alive)
        python_loop = _baseline(db_url, args.baseline_seconds)
        runs = []
        for size in sizes:
            before = raw_count(db_url)
            ingest = ingest_run(stack.url, token, args.clients, size, args.seconds, args.keep_alive)
            ingest["events_in_database"] = raw_count(db_url) - before  # a prune only drops minutes > 11 min old
            runs.append(ingest)
            _settle(StatsStore(db_url))
        second = _baseline_http(db_url, args.clients, max(sizes), args.baseline_seconds, args.keep_alive)
        baseline = max(first, second, key=lambda b: int(b["events_per_second"]))
        for ingest in runs:
            ingest["vs_baseline"] = round(ingest["events_per_second"] / max(baseline["events_per_second"], 1), 1)
            ingest["vs_python_loop"] = round(ingest["events_per_second"] / max(python_loop["events_per_second"], 1), 1)
            ingest["met"] = {
                "events_per_second": ingest["events_per_second"] >= TARGETS["events_per_second"],
                "vs_baseline": ingest["vs_baseline"] >= TARGETS["vs_baseline"],
                "health_p99_ms": ingest["health_p99_ms"] <= TARGETS["health_p99_ms"],
                "nothing_lost": ingest["events_in_database"] == ingest["events_accepted"],
            }
        api.request("PATCH", "/api/v2/dags/stats_rollup", json={"is_paused": True}).raise_for_status()
        rollup = _rollup_million(db_url, args.rollup_events)
        figures = {
            "command": "uv run python -m bench.stats" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
            "ingest": runs,
            "rollup_1m": rollup,
            "baseline_http_one_insert_per_event": baseline,
            "baseline_http_runs_events_per_second": [first["events_per_second"], second["events_per_second"]],
            "baseline_python_loop_no_http": {
                "design": "one INSERT + commit per event from one Python loop, straight into PostgreSQL, no HTTP",
                **python_loop,
            },
            "targets": TARGETS,
            "rollup_met": rollup["rollup_seconds"] <= TARGETS["rollup_1m_seconds"],
        }
        print(json.dumps(figures, indent=2), file=report, flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
