"""Timer failover: lateness of timers due right after a triggerer is killed, two triggerers vs one.

* **two triggerers** (``courier up --triggerers 2``: one timer dispatcher on each): while timers are due
  at 100/s, SIGKILL one triggerer with the trigger runner it forked; the other dispatcher sees the dead one's
  heartbeat stop and takes its timers over. Repeated ``--rounds`` times (3), each after the killed
  triggerer was restarted and its dispatcher is back.
* **baseline** (same run): one triggerer, killed the same way and restarted at once (what ``courier up``
  does); the dispatchers come back when Airflow hands their triggers to the new triggerer.

For each kill: lateness p50 / p99 / max of the timers due in the ``--window`` (10) seconds after it, and
lost / fired twice in the database over the whole load. Lateness is ``fired_at - fire_at`` as the
dispatcher recorded it; the lean receiver of ``bench/timers.py`` answers. Prints one JSON object. Command: ``uv run python -m bench.failover``.
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
from bench.lib.timer_load import lean_receiver
from courier.runtime.stack import Stack
from tests import drill

REPO = Path(__file__).resolve().parents[1]

DAG_FILES = [REPO / "dags" / "webhook_timers.py"]
TARGETS = {"p99_ms": 1000.0}


def _pump(stack: Stack, until: Any, timeout: float, what: str) -> None:
    """Supervise the stack (restart what was killed, as `courier up` does) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        stack.supervise()
        time.sleep(0.2)


def _dispatchers(db_url: str) -> int:
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM courier_timer_dispatchers WHERE alive_until > now()").fetchone()
    return int(row[0]) if row else 0


def _kill_round(stack: Stack, victim: str, hooks: str, rate: float, window: float) -> dict[str, Any]:
    db_url = stack.courier_url
    lead, spread = 5.0, 3 * window
    load = drill.schedule(db_url, hooks, int(rate * spread), first=lead, spread=spread, tag=f"failover-{victim}")
    _pump(stack, lambda: time.time() >= load.first_due + window, 120, "the kill instant")
    assert stack.supervisor.kill_component(victim), f"no {victim} to kill"  # it and its trigger runner
    killed_at = time.time()
    _pump(stack, lambda: drill.open_count(db_url, load.ids) == 0, 300, "every timer to be final")
    result = drill.outcome(db_url, load.ids, after=killed_at, window=window)
    whole = drill.outcome(db_url, load.ids)
    result.update(lost=whole["lost"], fired_twice=whole["fired_twice"], resent=whole["resent"], killed=victim)
    _pump(stack, lambda: _dispatchers(db_url) == 2, 300, "both dispatchers back after the restart")
    print(f"  ..  {victim} kill: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def _run(triggerers: int, rounds: int, hooks: str, rate: float, window: float) -> list[dict[str, Any]]:
    stack, _home = bench_stack(f"failover-{triggerers}", DAG_FILES)
    stack.triggerers = triggerers
    try:
        stack.start()
        db_url = stack.courier_url
        _pump(stack, lambda: _dispatchers(db_url) == 2, 300, "two timer dispatchers")
        victims = ["triggerer", "triggerer-2"] if triggerers > 1 else ["triggerer"]
        return [_kill_round(stack, victims[n % len(victims)], hooks, rate, window) for n in range(rounds)]
    finally:
        stack.stop()


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "p50_ms": max(r["p50_ms"] for r in results),
        "p99_ms": max(r["p99_ms"] for r in results),
        "max_ms": max(r["max_ms"] for r in results),
        "lost": sum(r["lost"] for r in results),
        "fired_twice_in_db": sum(r["fired_twice"] for r in results),
        "resent_same_webhook_id": sum(r["resent"] for r in results),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="timers due per second")
    parser.add_argument("--window", type=float, default=10.0, help="measure timers due this long after a kill")
    args = parser.parse_args()
    report = json_stdout()
    with lean_receiver() as receiver:
        hooks = f"{receiver}/hooks/"
        baseline = _run(1, 1, hooks, args.rate, args.window)
        two = _run(2, args.rounds, hooks, args.rate, args.window)
    worst = _summary(two)
    result = {
        "benchmark": "failover",
        "command": "uv run python -m bench.failover",
        "timers_per_second": args.rate,
        "window_s": args.window,
        "two_triggerers_kill": {"rounds": two, "worst_of_rounds": worst},
        "baseline_one_triggerer_restart": {"rounds": baseline, "worst_of_rounds": _summary(baseline)},
        "p99_ratio_baseline_vs_two": round(_summary(baseline)["p99_ms"] / max(worst["p99_ms"], 1.0), 1),
        "targets": TARGETS,
        "targets_met": {
            "p99": worst["p99_ms"] <= TARGETS["p99_ms"],
            "none_lost": worst["lost"] == 0,
            "none_fired_twice": worst["fired_twice_in_db"] == 0,
        },
    }
    print(json.dumps(result, indent=2), file=report, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
