"""Webhook timer accuracy and burst throughput, measured at the receiver, vs one DAG run per timer.

Everything runs through the real stack (embedded PostgreSQL, Airflow with its triggerer, the Courier API):
timers are created with ``POST /courier/timers/batch`` and fired by the ``webhook_timers`` dispatcher in
the triggerer; a lean receiver in its own process records each arrival. Lateness = arrival - due time.

* accuracy: 1,000 timers spread evenly over 60 s -> lateness p50 / p99 / max, early, lost, fired twice;
* burst: 5,000 timers due in the same second -> time to drain, fires per second;
* baseline (same run): 50 timers the Airflow-native way (one DAG run each: DateTimeSensorAsync, then an
  HTTP task) spread over 60 s -> lateness p50 / p99.

Prints one JSON object. Command: ``uv run python -m bench.timers``.

``--metrics-overhead ROUNDS`` measures instead what Courier's metrics cost the dispatchers
(``bench/metrics_overhead.py``): ``--burst`` timers due in one second, with ``[metrics] statsd_on`` off and on
alternating ROUNDS times each on the same stack (the triggerer restarted between rounds), a StatsD listener on
loopback; triggerer CPU per timer, fires/s and lateness per mode, and the StatsD lines sent per timer.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.lib.stack import bench_stack, json_stdout
from bench.lib.timer_load import iso as _iso
from bench.lib.timer_load import lateness as _lateness
from bench.lib.timer_load import lean_receiver, wait_for_dispatcher
from bench.lib.timer_load import schedule as _schedule
from bench.lib.timer_load import wait_for as _wait_for
from bench.metrics_overhead import run as metrics_overhead
from courier.runtime.airflow_api import AirflowApi

REPO = Path(__file__).resolve().parents[1]
DAG_FILES = [REPO / "dags" / "webhook_timers.py", REPO / "bench" / "dags" / "bench_timer_native.py"]
TARGETS = {"p50_ms": 20.0, "p99_ms": 250.0, "max_ms": 1000.0, "burst_fires_per_second": 1000.0}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _db_fired_twice(db_url: str, ids: list[str]) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM courier_timers WHERE id = ANY(%s) AND attempts > 1", (ids,)).fetchone()
    return int(row[0]) if row else -1


def accuracy(api: AirflowApi, db_url: str, receiver: str, count: int, spread: float) -> dict[str, Any]:
    start = time.time() + 10
    due = [start + spread * i / count for i in range(count)]
    ids = _schedule(api, f"{receiver}/hook/", due)
    arrivals = _wait_for(receiver, set(ids), start + spread + 30)
    late = _lateness(arrivals)
    return {
        "timers": count,
        "spread_seconds": spread,
        "lateness_ms": {
            "p50": round(_pct(late, 0.5), 2),
            "p99": round(_pct(late, 0.99), 2),
            "max": round(max(late), 2),
            "min": round(min(late), 2),
        },
        "early": sum(1 for v in late if v < 0),
        "lost": count - len(late),
        "received_twice": len(arrivals) - len(late),
        "fired_twice_in_db": _db_fired_twice(db_url, ids),
    }


def burst(api: AirflowApi, db_url: str, receiver: str, count: int) -> dict[str, Any]:
    due_at = time.time() + 20
    due = [due_at + 0.999 * i / count for i in range(count)]  # all in the same second
    ids = _schedule(api, f"{receiver}/hook/", due)
    arrivals = _wait_for(receiver, set(ids), due_at + 120)
    late = _lateness(arrivals)
    last = max(a["arrived"] for a in arrivals)
    drain = last - due_at
    return {
        "timers": count,
        "drain_seconds": round(drain, 3),
        "fires_per_second": round(len(late) / max(drain, 1.0), 1),
        "lateness_ms": {"p50": round(_pct(late, 0.5), 1), "max": round(max(late), 1)},
        "early": sum(1 for v in late if v < 0),
        "lost": count - len(late),
        "fired_twice_in_db": _db_fired_twice(db_url, ids),
    }


def native(api: AirflowApi, receiver: str, count: int, spread: float) -> dict[str, Any]:
    start = time.time() + 30
    ids = [f"native{i:03d}" for i in range(count)]
    for i, timer_id in enumerate(ids):
        fire_at = _iso(start + spread * i / count)
        api.trigger("bench_timer_native", {"fire_at": fire_at, "url": f"{receiver}/hook/", "timer_id": timer_id})
    arrivals = _wait_for(receiver, set(ids), start + spread + 180)
    late = _lateness(arrivals)
    return {
        "timers": count,
        "spread_seconds": spread,
        "lateness_ms": {
            "p50": round(_pct(late, 0.5), 1),
            "p99": round(_pct(late, 0.99), 1),
            "max": round(max(late), 1),
        },
        "lost": count - len(late),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timers", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=60.0)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--native", type=int, default=50)
    parser.add_argument("--metrics-overhead", type=int, default=0, metavar="ROUNDS")
    args = parser.parse_args()
    report = json_stdout()
    stack, _home = bench_stack("timers", DAG_FILES)
    with lean_receiver() as receiver:
        try:
            stack.start()
            api = stack.api()
            db_url = stack.courier_url
            wait_for_dispatcher(api)
            if args.metrics_overhead:
                try:
                    overhead = metrics_overhead(stack, api, db_url, receiver, args.burst, args.metrics_overhead)
                finally:
                    api.close()
                command = (
                    f"uv run python -m bench.timers --metrics-overhead {args.metrics_overhead} --burst {args.burst}"
                )
                print(json.dumps({"benchmark": "timers_metrics_overhead", "command": command, **overhead}, indent=2),
                      file=report, flush=True)  # fmt: skip
                return 0
            try:
                result_accuracy = accuracy(api, db_url, receiver, args.timers, args.spread)
                result_burst = burst(api, db_url, receiver, args.burst)
                result_native = native(api, receiver, args.native, args.spread)
            finally:
                api.close()
        finally:
            stack.stop()
    late = result_accuracy["lateness_ms"]
    result = {
        "benchmark": "timers",
        "command": "uv run python -m bench.timers",
        "courier_accuracy": result_accuracy,
        "courier_burst": result_burst,
        "baseline_native_dag_run_per_timer": result_native,
        "p50_ratio_vs_native": round(result_native["lateness_ms"]["p50"] / max(late["p50"], 0.01), 1),
        "targets": TARGETS,
        "targets_met": {
            "p50": late["p50"] <= TARGETS["p50_ms"],
            "p99": late["p99"] <= TARGETS["p99_ms"],
            "max": late["max"] <= TARGETS["max_ms"],
            "none_early": result_accuracy["early"] == 0 and result_burst["early"] == 0,
            "none_lost": result_accuracy["lost"] == 0 and result_burst["lost"] == 0,
            "none_fired_twice": result_accuracy["fired_twice_in_db"] == 0 and result_burst["fired_twice_in_db"] == 0,
            "burst": result_burst["fires_per_second"] >= TARGETS["burst_fires_per_second"],
        },
    }
    print(json.dumps(result, indent=2), file=report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
