"""Retention at scale (issue #25, item 5), on the real stack, in one run.

* **clean**: ``finished`` timers (1,000,000, delivered 40 days ago, one attempt row each) and ``jobs``
  (100,000 final, one attempt each) bulk-inserted with SQL, then ``courier.retention.clean`` (what the
  ``courier_retention`` DAG and ``courier db clean`` run) with the cut-off 30 days back -> rows deleted per
  second, batches, wall time;
* **lateness**: timers firing at a steady ``rate`` (100/s) to the lean receiver while the clean runs, and the
  same load for the same time just before it without a clean (the baseline, same run) -> lateness p50/p99/max
  at the receiver and the p99 ratio (target <= 1.2x);
* **soak**: steady load (``rate`` timers/s, each fired at once) for ``cycles`` x ``cycle`` seconds with a clean
  every cycle keeping ``keep`` seconds of finished timers -> rows and table size (timers + attempts, indexes
  included) after each cycle: they stop growing.

Also the database size before/after, and the machine's load average at start and end (the machine is shared).
``uv run python -m bench.retention [--finished N --jobs N --rate R ...]``; ``--small`` for a development run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from bench.lib.stack import bench_stack, json_stdout
from bench.lib.timer_load import lateness, lean_receiver, schedule, wait_for, wait_for_dispatcher
from courier import retention
from courier.config import CourierConfig
from courier.jobs import store as jobs_store
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from courier.timers import store as timers_store
from tests import drill

REPO = Path(__file__).resolve().parents[1]

DAG_FILES = [REPO / "dags" / "webhook_timers.py"]
TARGET_P99_RATIO = 1.2

_TIMERS = """
INSERT INTO courier_timers (id, url, fire_at, status, next_attempt_at, attempts, fired_at, finished_at, created_at)
SELECT 'old_' || g, 'https://example.com/hook/', %(at)s, 'delivered', %(at)s, 1, %(at)s, %(at)s, %(at)s
FROM generate_series(1, %(n)s) g
"""
_TIMER_ATTEMPTS = """
INSERT INTO courier_timer_attempts (timer_id, attempt, started_at, duration_ms, status_code, dispatcher)
SELECT 'old_' || g, 1, %(at)s, 12.5, 200, 'bench' FROM generate_series(1, %(n)s) g
"""
_JOBS = """
INSERT INTO courier_jobs (job_id, status, created_at, started_at, finished_at, files_to_process, params)
SELECT 'old_' || g, 'downloaded', %(at)s, %(at)s, %(at)s, '["jobs/files/x/in.csv"]', '{}'
FROM generate_series(1, %(n)s) g
"""
_JOB_ATTEMPTS = """
INSERT INTO courier_job_attempts (job_id, attempt, started_at, finished_at, outcome)
SELECT 'old_' || g, 1, %(at)s, %(at)s, 'success' FROM generate_series(1, %(n)s) g
"""
_SIZES = """
SELECT (SELECT count(*) FROM courier_timers) AS timers, (SELECT count(*) FROM courier_timer_attempts) AS attempts,
       pg_total_relation_size('courier_timers') + pg_total_relation_size('courier_timer_attempts') AS bytes
"""


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _pct(values: list[float], q: float) -> float:
    return round(drill.percentile(values, q), 1) if values else float("nan")


def _late(values: list[float]) -> dict[str, Any]:
    return {"p50": _pct(values, 0.5), "p99": _pct(values, 0.99), "max": round(max(values), 1) if values else None}


def seed(db_url: str, finished: int, jobs: int) -> dict[str, Any]:
    at = datetime.now(UTC) - timedelta(days=40)
    began = time.monotonic()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(_TIMERS, {"at": at, "n": finished})
        conn.execute(_TIMER_ATTEMPTS, {"at": at, "n": finished})
        conn.execute(_JOBS, {"at": at, "n": jobs})
        conn.execute(_JOB_ATTEMPTS, {"at": at, "n": jobs})
        conn.execute("VACUUM ANALYZE courier_timers, courier_timer_attempts, courier_jobs, courier_job_attempts")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {"seconds": round(time.monotonic() - began, 1), "database_bytes": size}


def steady(api: AirflowApi, receiver: str, rate: int, seconds: float, stop: threading.Event | None = None) -> list[str]:
    """Schedule ``rate`` timers per second, each due 2 s after it is created, for at least ``seconds`` and,
    with ``stop``, until it is set; their ids."""
    ids: list[str] = []
    began = time.time()
    tick = 0
    while time.time() - began < seconds or (stop is not None and not stop.is_set()):
        due = time.time() + 2
        ids += schedule(api, f"{receiver}/hook/", [due + i / rate for i in range(rate)])
        tick += 1
        time.sleep(max(0.0, began + tick - time.time()))
    return ids


def measured(api: AirflowApi, receiver: str, ids: list[str]) -> dict[str, Any]:
    arrivals = wait_for(receiver, set(ids), time.time() + 120)
    late = lateness(arrivals)
    return {"timers": len(ids), "lost": len(ids) - len(late), "lateness_ms": _late(late)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--pause", type=float, default=None, help="between batches (default [courier] retention_batch_pause)"
    )
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--cycle", type=float, default=20.0)
    parser.add_argument("--keep", type=float, default=30.0)
    parser.add_argument("--small", action="store_true", help="a development run (50 k timers, 5 k jobs)")
    args = parser.parse_args()
    if args.small:
        args.finished, args.jobs, args.cycles = 50_000, 5_000, 3
    if args.pause is None:
        args.pause = CourierConfig.__dataclass_fields__["retention_batch_pause"].default
    report = json_stdout()
    out: dict[str, Any] = {"load_average_start": _load(), "finished_timers": args.finished, "jobs": args.jobs}
    stack, _home = bench_stack("retention", DAG_FILES)
    with lean_receiver() as receiver:
        try:
            _measure(stack, receiver, args, out)
        finally:
            stack.stop()
    print(json.dumps(out, default=str), file=report, flush=True)
    return 0


def _measure(stack: Stack, receiver: str, args: argparse.Namespace, out: dict[str, Any]) -> None:
    stack.start()
    api = stack.api()
    db_url = stack.courier_url
    wait_for_dispatcher(api)
    out["seed"] = seed(db_url, args.finished, args.jobs)
    print(f"retention bench: seeded {out['seed']}", file=sys.stderr, flush=True)
    cutoff = datetime.now(UTC) - timedelta(days=30)
    tables = {timers_store.TABLE: cutoff, jobs_store.TABLE: cutoff}

    # the clean, with timers firing meanwhile
    done: dict[str, Any] = {}
    stop = threading.Event()

    def clean() -> None:
        began = time.monotonic()
        cleaned = retention.clean(tables, batch=args.batch, pause=args.pause, db=db_url)
        done.update(seconds=time.monotonic() - began, report=cleaned)
        stop.set()

    worker = threading.Thread(target=clean)
    # baseline first: the same load for a fixed time without a clean (estimated from a first pass below)
    baseline_seconds = 60.0
    base_ids = steady(api, receiver, args.rate, baseline_seconds)
    out["baseline"] = measured(api, receiver, base_ids)
    print(f"retention bench: baseline {out['baseline']}", file=sys.stderr, flush=True)
    worker.start()
    during_ids = steady(api, receiver, args.rate, 10.0, stop)
    worker.join()
    out["during_clean"] = measured(api, receiver, during_ids)
    cleaned = done["report"]
    rows = sum(n for part in cleaned.counts.values() for k, n in part.items() if k != "files")
    out["clean"] = {
        "seconds": round(done["seconds"], 1),
        "deleted": cleaned.counts,
        "rows_deleted": rows,
        "rows_per_second": round(rows / done["seconds"]),
        "batches": cleaned.batches,
        "batch_size": args.batch,
        "pause_seconds": args.pause,
    }
    b99, d99 = out["baseline"]["lateness_ms"]["p99"], out["during_clean"]["lateness_ms"]["p99"]
    out["p99_ratio"] = round(d99 / b99, 2) if b99 else None
    with psycopg.connect(db_url, autocommit=True) as conn:
        out["database_bytes_after_clean"] = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]

    # soak: steady load, a clean each cycle keeping `keep` seconds of finished timers
    sizes = []
    for _ in range(args.cycles):
        steady(api, receiver, args.rate, args.cycle)
        retention.clean({timers_store.TABLE: datetime.now(UTC) - timedelta(seconds=args.keep)}, db=db_url)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("VACUUM courier_timers, courier_timer_attempts")  # what autovacuum does, now
            row = conn.execute(_SIZES).fetchone()
        sizes.append({"timers": row[0], "attempts": row[1], "bytes": row[2]})  # type: ignore[index]
        print(f"retention bench: soak {sizes[-1]}", file=sys.stderr, flush=True)
    half = len(sizes) // 2
    out["soak"] = {
        "rate": args.rate,
        "cycle_seconds": args.cycle,
        "keep_seconds": args.keep,
        "after_each_cycle": sizes,
        "rows_growth_second_half": sizes[-1]["timers"] - sizes[half]["timers"] if sizes else None,
        "created_per_cycle": int(args.rate * args.cycle),
    }
    out["load_average_end"] = _load()
    out["targets"] = {"p99_ratio": TARGET_P99_RATIO}
    out["targets_met"] = {
        "p99_ratio": out["p99_ratio"] is not None and out["p99_ratio"] <= TARGET_P99_RATIO,
        "lost": out["baseline"]["lost"] == 0 and out["during_clean"]["lost"] == 0,
    }


if __name__ == "__main__":
    sys.exit(main())
