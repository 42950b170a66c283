"""The dispatcher's cost of Courier's metrics (``python -m bench.timers --metrics-overhead``; alone, ``python -m bench.metrics_overhead`` gives the meter's cost in process): bursts fired with
``[metrics] statsd_on`` off and on, alternating in the same run, on the same stack.

Between rounds only the triggerer is restarted (its environment switches ``AIRFLOW__METRICS__STATSD_ON``); the
round starts once two dispatchers that were not there before heartbeat. Each round: ``count`` timers due in
the same second; measured: drain time, fires/s, lateness at the receiver, CPU seconds of the triggerer (the
dispatchers) per timer, and with metrics on the StatsD packets and Courier lines a listener on loopback got.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg

from bench.lib.timer_load import lateness, schedule, wait_for
from bench.scale.timers import _Cpu
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.helpers import StatsdListener


def _live(db_url: str) -> set[str]:
    with psycopg.connect(db_url) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM courier_timer_dispatchers WHERE alive_until > now()")}


def _restart_triggerer(stack: Stack, db_url: str, metrics_on: bool, port: int) -> None:
    before = _live(db_url)
    stack.env.update(
        AIRFLOW__METRICS__STATSD_ON=str(metrics_on),
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(port),
        AIRFLOW__METRICS__STATSD_PREFIX="airflow",
    )
    stack.stop_component("triggerer")
    stack.start_component("triggerer")
    deadline = time.time() + 180
    while len(_live(db_url) - before) < 2:
        if time.time() > deadline:
            raise RuntimeError("the dispatchers did not come back after the triggerer restart")
        time.sleep(0.5)
    time.sleep(2)


def _round(stack: Stack, api: AirflowApi, receiver: str, count: int, statsd: StatsdListener) -> dict[str, Any]:
    due_at = time.time() + 15 + count / 2000
    due = [due_at + 0.999 * i / count for i in range(count)]
    ids = schedule(api, f"{receiver}/hook/", due)
    time.sleep(max(0.0, due_at - 1 - time.time()))
    packets, lines = statsd.packets, len(statsd.lines)
    with _Cpu(stack) as cpu:
        arrivals = wait_for(receiver, set(ids), due_at + 120)
        time.sleep(1.5)  # the meter's last flush of the burst
    late = sorted(lateness(arrivals))
    drain = max(a["arrived"] for a in arrivals) - due_at
    fired_lines = [v for n, v, _ in statsd.lines[lines:] if n.startswith("airflow.courier.timers.fired.")]
    return {
        "timers": count,
        "received": len(late),
        "drain_seconds": round(drain, 3),
        "fires_per_second": round(len(late) / max(drain, 1.0), 1),
        "lateness_ms": {"p50": round(late[len(late) // 2], 1), "p99": round(late[int(0.99 * (len(late) - 1))], 1)},
        "triggerer_cpu_ms_per_timer": round(cpu.spent["triggerer"] * 1000 / count, 3),
        "statsd_packets": statsd.packets - packets,
        "courier_lines": len(statsd.lines) - lines,
        "fired_counted": sum(fired_lines),
    }


def meter_cost(statsd: StatsdListener, timers: int = 200_000, per_flush: int = 2000) -> dict[str, Any]:
    """In this process, without the stack's noise: the CPU the dispatcher's metrics add per timer — the meter's
    ``fired`` per timer and one flush (one counter per outcome, 16 lateness samples) per ``per_flush`` timers,
    i.e. a flush a second at 2,000 fires/s — sent by Airflow's StatsD client to the loopback listener."""
    import os

    from courier import metrics

    os.environ.update(
        AIRFLOW__METRICS__STATSD_ON="True",
        AIRFLOW__METRICS__STATSD_HOST="127.0.0.1",
        AIRFLOW__METRICS__STATSD_PORT=str(statsd.port),
        AIRFLOW__METRICS__STATSD_PREFIX="airflow",
    )
    metrics._initialised = False
    meter = metrics.TimerMeter()
    lines = len(statsd.lines)
    began = time.process_time()
    for i in range(timers):
        meter.fired("delivered" if i % 10 else "retrying", float(i % 997))
        if i % per_flush == per_flush - 1:
            meter.flush(force=True)
    spent = time.process_time() - began
    time.sleep(0.5)
    return {
        "timers": timers,
        "timers_per_flush": per_flush,
        "cpu_us_per_timer": round(spent * 1e6 / timers, 3),
        "courier_lines_per_1000_timers": round((len(statsd.lines) - lines) * 1000 / timers, 2),
    }


def run(stack: Stack, api: AirflowApi, db_url: str, receiver: str, count: int, rounds: int) -> dict[str, Any]:
    statsd = StatsdListener(prefix="airflow.courier.")
    results: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
    try:
        for i in range(rounds * 2):
            mode = "off" if i % 2 == 0 else "on"
            _restart_triggerer(stack, db_url, mode == "on", statsd.port)
            results[mode].append(_round(stack, api, receiver, count, statsd))
        meter = meter_cost(statsd)
    finally:
        statsd.close()

    def med(mode: str, key: str, sub: str | None = None) -> float:
        values = [r[key][sub] if sub else r[key] for r in results[mode]]
        return float(statistics.median(values))

    cpu_off, cpu_on = med("off", "triggerer_cpu_ms_per_timer"), med("on", "triggerer_cpu_ms_per_timer")
    return {
        "meter_in_process": meter,
        "rounds_per_mode": rounds,
        "timers_per_round": count,
        "metrics_off": results["off"],
        "metrics_on": results["on"],
        "median": {
            mode: {
                "fires_per_second": med(mode, "fires_per_second"),
                "lateness_p99_ms": med(mode, "lateness_ms", "p99"),
                "triggerer_cpu_ms_per_timer": med(mode, "triggerer_cpu_ms_per_timer"),
            }
            for mode in ("off", "on")
        },
        "cpu_per_timer_ratio_on_vs_off": round(cpu_on / max(cpu_off, 1e-9), 3),
        "courier_lines_per_timer_on": round(sum(r["courier_lines"] for r in results["on"]) / (count * rounds), 4),
    }


def main() -> int:
    """The meter's cost alone, no stack: ``uv run python -m bench.metrics_overhead``."""
    import json

    listener = StatsdListener(prefix="airflow.courier.")
    try:
        cost = meter_cost(listener)
    finally:
        listener.close()
    print(
        json.dumps({"benchmark": "timers_metrics_meter", "command": "uv run python -m bench.metrics_overhead", **cost})
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
