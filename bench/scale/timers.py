"""Timers at scale (issue #20, item 1): a million waiting timers, through the real stack, in one run.

* **create**: ``waiting`` timers (1,000,000) scheduled over the next days through ``POST /courier/timers/batch``
  (1,000 per request) by ``clients`` concurrent clients -> timers/s;
* **claim**: the dispatcher's claim query (built by ``courier.timers.dispatcher.claim_statement``, run as the
  dispatcher runs it, rolled back) with 1 k and with 1 M timers waiting: a poll (nothing due, the steady
  state) and a full claim of 1,000 timers; with ``EXPLAIN (ANALYZE, BUFFERS)``; and the size of the timer
  tables (table + indexes) at both sizes;
* **after the load**, with no ``ANALYZE`` nor pause: 2,000 timers due at one instant 20 s after the last batch
  was created -> lateness at the receiver, lost, fired twice (issue #27);
* **burst** while the 1 M wait: 10,000 timers due in the same second -> drain time, lateness p50/p99/max at
  the receiver, fires/s, CPU seconds of the triggerer and of PostgreSQL per 1,000 fired;
* **steady** while the 1 M wait: 100 timers/s for ``steady_seconds`` -> lateness p50/p99/max at the receiver;
  meanwhile ``GET /courier/timers/{id}`` and the list route (first page, pages deeper by cursor, a status
  filter) are read at a steady pace -> their p50/p99, and ``EXPLAIN`` of the list queries;
* lost (not delivered) and fired twice (more than one attempt row) from the database, received twice at
  the receiver.

``COURIER_SCALE=small`` runs the same at a development size. ``measure()`` returns one JSON-able dict
(``bench/scale/`` calls it); ``uv run python -m bench.scale.timers`` prints it.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

from bench.lib.stack import bench_stack, json_stdout
from bench.lib.timer_load import BATCH, iso, lateness, lean_receiver, results, schedule, wait_for, wait_for_dispatcher
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.processes import tagged_processes
from courier.runtime.stack import Stack
from courier.timers.dispatcher import DispatcherSettings, claim_statement
from courier.timers.store import list_query
from tests import drill

REPO = Path(__file__).resolve().parents[2]

DAG_FILES = [REPO / "dags" / "webhook_timers.py"]
SIZES: dict[str, dict[str, Any]] = {
    "full": {"waiting": 1_000_000, "burst": 10_000, "steady_rate": 100, "steady_seconds": 30, "clients": 4},
    "small": {"waiting": 20_000, "burst": 2_000, "steady_rate": 100, "steady_seconds": 15, "clients": 4},
}
FIRST_SIZE = 1_000  # the "1 k waiting" point the claim query and the database size are compared at
TARGETS = {
    "claim_ratio_at_1m_vs_1k": 2.0,
    "burst_drain_seconds": 2.5,
    "burst_p99_ms": 1000.0,
    "steady_p99_ms": 50.0,
    "lost": 0,
    "fired_twice": 0,
}
CLAIM_RUNS = 15
AFTER_LOAD = 2_000  # due at one instant 20 s after the bulk load ends
READS_PER_SECOND = 10  # per kind of read, during the steady window
SPAN_DAYS = 3.0


def _progress(phase: str, figures: Any) -> None:
    """Each phase's figures on stderr as soon as they are known (a run cut short still shows them)."""
    print(f"scale_timers {phase}: {json.dumps(figures)[:2000]}", file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float:
    return round(drill.percentile(values, q), 2)


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50": _pct(values, 0.5),
        "p99": _pct(values, 0.99),
        "max": round(max(values, default=0), 2),
    }


# ---------------------------------------------------------------------------------------------- create
def _create_waiting(stack: Stack, url: str, count: int, offset: int, clients: int) -> dict[str, Any]:
    """``count`` timers to ``url`` due from 1 h to ``SPAN_DAYS`` from now, through the batch API by ``clients``
    concurrent clients; the rate, the per-request latency and a sample of the ids."""
    base = time.time() + 3600
    step = SPAN_DAYS * 86400 / max(count, 1)
    local = threading.local()
    apis: list[AirflowApi] = []

    def post(first: int) -> tuple[float, list[str]]:
        if not hasattr(local, "api"):
            local.api = stack.api()
            apis.append(local.api)
        chunk = [
            {"url": url, "fire_at": iso(base + step * i), "payload": {"n": offset + i}}
            for i in range(first, min(first + BATCH, count))
        ]
        clock = time.perf_counter()
        answer = local.api.request("POST", "/courier/timers/batch", json={"timers": chunk}, timeout=120)
        answer.raise_for_status()
        took = time.perf_counter() - clock
        created = answer.json()
        return took, [created[0]["id"], created[-1]["id"]]

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        done = list(pool.map(post, range(0, count, BATCH)))
    wall = time.perf_counter() - started
    for api in apis:
        api.close()
    return {
        "timers": count,
        "clients": clients,
        "seconds": round(wall, 1),
        "timers_per_second": round(count / wall, 1),
        "request_seconds": {
            k: round(v / 1000, 3) for k, v in _summary([t * 1000 for t, _ in done]).items() if k != "n"
        },
        "sample_ids": [i for _, ids in done for i in ids],
    }


# ---------------------------------------------------------------------------------------------- claim, size
def _claim(db_url: str) -> dict[str, Any]:
    """Time the dispatcher's claim query as it runs it (prepared after a few runs, as psycopg does), each
    run rolled back: a poll (its own horizon: nothing due) and a full claim of 1,000 (a horizon covering
    every waiting timer, so the 1,000 soonest are taken)."""
    settings = DispatcherSettings(secret="unused")
    figures: dict[str, Any] = {}
    with psycopg.connect(db_url) as conn:
        conn.execute("ANALYZE courier_timers")
        conn.commit()
        for kind, horizon in (("poll", settings.horizon), ("claim_1000", (SPAN_DAYS + 1) * 86400)):
            sql, params = claim_statement(
                DispatcherSettings(secret="unused", horizon=horizon), "bench:claim-probe", settings.batch
            )
            times, claimed = [], 0
            for _ in range(CLAIM_RUNS):
                clock = time.perf_counter()
                claimed = len(conn.execute(sql, params).fetchall())
                times.append((time.perf_counter() - clock) * 1000)
                conn.rollback()
            plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()]
            conn.rollback()
            figures[kind] = {
                "claimed": claimed,
                "ms": {"p50": _pct(times, 0.5), "min": round(min(times), 3)},
                "index_scan": any("Index Scan using courier_timers_due" in line for line in plan),
                "explain": plan,
            }
    return figures


def _size(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*), pg_table_size('courier_timers'), pg_indexes_size('courier_timers'), "
            "pg_total_relation_size('courier_timers') + pg_total_relation_size('courier_timer_attempts') "
            "FROM courier_timers"
        ).fetchone()
        assert row is not None
        indexes = conn.execute(
            "SELECT indexrelname, pg_relation_size(indexrelid) FROM pg_stat_user_indexes "
            "WHERE relname = 'courier_timers' ORDER BY 1"
        ).fetchall()
    rows, table, index, total = (int(v) for v in row)
    return {
        "timers": rows,
        "table_mb": round(table / 2**20, 1),
        "indexes_mb": round(index / 2**20, 1),
        "total_mb": round(total / 2**20, 1),
        "bytes_per_timer": round(total / max(rows, 1)),
        "index_mb": {name: round(size / 2**20, 1) for name, size in indexes},
    }


# ---------------------------------------------------------------------------------------------- fire
def _cpu(proc: psutil.Process) -> float:
    try:
        times = proc.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


class _Cpu:
    """CPU seconds of the stack's triggerer (its dispatchers), API server and PostgreSQL over a window.

    PostgreSQL overwrites its backends' environment with their process titles, so its processes are the
    postmaster the stack started and its children; backends that ended meanwhile count through the
    postmaster's ``children_*`` times (it reaps them)."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def _now(self) -> dict[str, float]:
        spent = {}
        for component in ("triggerer", "api-server"):
            spent[component] = sum(_cpu(proc) for proc in tagged_processes(self.stack.stack_id, component))
        postmaster = next(c.process.pid for c in self.stack.supervisor.children if c.name == "postgres")
        try:
            root = psutil.Process(postmaster)
            times = root.cpu_times()
            spent["postgres"] = _cpu(root) + times.children_user + times.children_system
            spent["postgres"] += sum(_cpu(proc) for proc in root.children(recursive=True))
        except psutil.Error:
            spent["postgres"] = float("nan")
        return spent

    def __enter__(self) -> _Cpu:
        self.start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.spent = {k: round(end[k] - self.start[k], 2) for k in end}


def _fired(arrivals: list[dict[str, Any]], ids: list[str], db_url: str) -> dict[str, Any]:
    late = lateness(arrivals)
    db = drill.outcome(db_url, ids)
    return {
        "timers": len(ids),
        "lateness_ms": _summary(late) | {"min": round(min(late, default=0), 2)},
        "early": sum(1 for v in late if v < 0),
        "lost": db["lost"],
        "fired_twice": db["fired_twice"],
        "received_twice": len(arrivals) - len(late),
        "not_received": len(ids) - len(late),
    }


def _burst(stack: Stack, api: AirflowApi, db_url: str, receiver: str, count: int) -> dict[str, Any]:
    due_at = time.time() + 15 + count / 2000  # time to create them first
    due = [due_at + 0.999 * i / count for i in range(count)]
    ids = schedule(api, f"{receiver}/hook/", due)
    time.sleep(max(0.0, due_at - 1 - time.time()))
    with _Cpu(stack) as cpu:
        arrivals = wait_for(receiver, set(ids), due_at + 120)
    result = _fired(arrivals, ids, db_url)
    drain = max(a["arrived"] for a in arrivals) - due_at
    result |= {
        "drain_seconds": round(drain, 3),
        "fires_per_second": round(len(lateness(arrivals)) / max(drain, 1.0), 1),
        "cpu_seconds": cpu.spent,
        "cpu_ms_per_timer": {k: round(v * 1000 / count, 3) for k, v in cpu.spent.items()},
        "ids": ids,
    }
    return result


def _after_load(api: AirflowApi, db_url: str, receiver: str, count: int, after: float) -> dict[str, Any]:
    """Right after the bulk load, no ``ANALYZE`` nor pause: ``count`` timers due at one instant ``after`` seconds
    from now (what a deployment sees after a bulk import; issue #27)."""
    due_at = time.time() + after
    ids = schedule(api, f"{receiver}/hook/", [due_at] * count)
    arrivals = wait_for(receiver, set(ids), due_at + 60)
    result = _fired(arrivals, ids, db_url)
    drain = max((a["arrived"] for a in arrivals), default=due_at) - due_at
    return result | {"after_seconds": after, "drain_seconds": round(drain, 3), "ids": ids}


def _reads(stack: Stack, ids: list[str], stop: threading.Event) -> dict[str, Any]:
    """Read ``GET /courier/timers/{id}`` and the list route at READS_PER_SECOND each until ``stop``."""
    got: dict[str, list[float]] = {"get": [], "list_first_page": [], "list_by_cursor": [], "list_status": []}
    errors: list[str] = []

    def timed(api: AirflowApi, kind: str, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        clock = time.perf_counter()
        try:
            answer = api.request("GET", path, params=params)
        except httpx.HTTPError as exc:
            errors.append(f"{kind}: {exc!r}")
            return {}
        got[kind].append((time.perf_counter() - clock) * 1000)
        if answer.status_code != 200:
            errors.append(f"{kind}: {answer.status_code}")
            return {}
        return dict(answer.json())

    def getter() -> None:
        api = stack.api()
        rng = random.Random(1)
        while not stop.wait(1 / READS_PER_SECOND):
            timed(api, "get", f"/courier/timers/{rng.choice(ids)}")
        api.close()

    def lister() -> None:
        api = stack.api()
        cursor = None
        turn = 0
        while not stop.wait(1 / READS_PER_SECOND):
            turn += 1
            if turn % 3 == 0:
                timed(api, "list_status", "/courier/timers", {"status": "cancelled"})
            elif cursor is None:
                cursor = timed(api, "list_first_page", "/courier/timers").get("next_cursor")
            else:
                cursor = timed(api, "list_by_cursor", "/courier/timers", {"cursor": cursor}).get("next_cursor")
        api.close()

    threads = [threading.Thread(target=getter), threading.Thread(target=lister)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {kind: _summary(values) for kind, values in got.items()} | {"errors": errors[:10]}


def _steady(
    stack: Stack, api: AirflowApi, db_url: str, receiver: str, rate: float, seconds: float, read_ids: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    count = int(rate * seconds)
    start = time.time() + 10
    ids = schedule(api, f"{receiver}/hook/", [start + i / rate for i in range(count)])
    time.sleep(max(0.0, start - time.time()))
    stop = threading.Event()
    reads: dict[str, Any] = {}
    reader = threading.Thread(target=lambda: reads.update(_reads(stack, read_ids, stop)))
    reader.start()
    try:
        arrivals = wait_for(receiver, set(ids), start + seconds + 60)
    finally:
        stop.set()
        reader.join()
    return _fired(arrivals, ids, db_url) | {"rate_per_second": rate, "seconds": seconds, "ids": ids}, reads


def _list_plans(db_url: str) -> dict[str, Any]:
    """``EXPLAIN ANALYZE`` of the list route's queries (``courier.timers.store.list_query``) with 1 M waiting."""
    plans = {}
    with psycopg.connect(db_url) as conn:
        for name, status in (
            ("first_page", None),
            ("status_scheduled", "scheduled"),
            ("status_cancelled", "cancelled"),
        ):
            sql, args = list_query(status, 100, None)  # type: ignore[arg-type]
            plan = [row[0] for row in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, args).fetchall()]
            plans[name] = {
                "seq_scan": any("Seq Scan" in line for line in plan),
                "execution": next((line for line in plan if line.startswith("Execution Time")), ""),
                "explain": plan,
            }
    return plans


# ---------------------------------------------------------------------------------------------- the run
def _brief(claim: dict[str, Any]) -> dict[str, Any]:
    return {kind: (v["claimed"], v["ms"], v["index_scan"]) for kind, v in claim.items()}


def measure() -> dict[str, Any]:
    """Run the whole timers-at-scale measurement on a stack of its own; one JSON-able dict."""
    scale = os.environ.get("COURIER_SCALE", "full")
    size = SIZES[scale]
    stack, _home = bench_stack("scale-timers", DAG_FILES)
    with lean_receiver() as receiver:
        try:
            stack.start()
            api = stack.api()
            db_url = stack.courier_url
            wait_for_dispatcher(api)
            far = f"{receiver}/far/"
            first = _create_waiting(stack, far, FIRST_SIZE, 0, 1)
            at_1k = {"claim": _claim(db_url), "size": _size(db_url)}
            _progress("at_1k", {"create": first["timers_per_second"], "size": at_1k["size"]} | _brief(at_1k["claim"]))
            rest = _create_waiting(stack, far, size["waiting"] - FIRST_SIZE, FIRST_SIZE, size["clients"])
            _progress("create", {k: v for k, v in rest.items() if k != "sample_ids"})
            after_load = _after_load(api, db_url, receiver, AFTER_LOAD, 20.0)
            _progress("after_load", {k: v for k, v in after_load.items() if k != "ids"})
            sample = first.pop("sample_ids") + rest.pop("sample_ids")
            for timer_id in sample[:5]:  # a rare status for the list route's filter
                api.request("POST", f"/courier/timers/{timer_id}/cancel").raise_for_status()
            at_1m = {"claim": _claim(db_url), "size": _size(db_url)}
            _progress("at_waiting", {"size": at_1m["size"]} | _brief(at_1m["claim"]))
            burst = _burst(stack, api, db_url, receiver, size["burst"])
            _progress("burst", {k: v for k, v in burst.items() if k != "ids"})
            steady, reads = _steady(
                stack, api, db_url, receiver, size["steady_rate"], size["steady_seconds"], sample[5:]
            )
            _progress("steady", {k: v for k, v in steady.items() if k != "ids"} | {"reads": reads})
            list_plans = _list_plans(db_url)
            expected = set(burst.pop("ids")) | set(steady.pop("ids")) | set(after_load.pop("ids"))
            unexpected = len({a["id"] for a in results(receiver)} - expected)  # a waiting timer fired: a bug
            api.close()
        finally:
            stack.stop()
    claim_ratio = {
        kind: round(at_1m["claim"][kind]["ms"]["p50"] / max(at_1k["claim"][kind]["ms"]["p50"], 0.001), 2)
        for kind in ("poll", "claim_1000")
    }
    waiting = size["waiting"]
    return {
        "benchmark": "scale_timers",
        "scale": scale,
        "command": "uv run python -m bench.scale.timers" + (" (COURIER_SCALE=small)" if scale != "full" else ""),
        "sizes": size,
        "create": {"first_1k": first, "rest": rest},
        "claim": {
            "at_1k": at_1k["claim"],
            f"at_{waiting}": at_1m["claim"],
            "ratio_p50": claim_ratio,
        },
        "db_size": {"at_1k": at_1k["size"], f"at_{waiting}": at_1m["size"]},
        "after_load": after_load,
        "burst": burst,
        "steady": steady,
        "api_while_waiting_ms": reads,
        "list_plans": list_plans,
        "unexpected_arrivals": unexpected,
        "per_triggerer_timers_per_second": burst["fires_per_second"],
        "targets": TARGETS,
        "targets_met": {
            "claim_ratio": max(claim_ratio.values()) <= TARGETS["claim_ratio_at_1m_vs_1k"],
            "after_load_p99": after_load["lateness_ms"]["p99"] <= TARGETS["burst_p99_ms"] and after_load["lost"] == 0,
            "burst_drain": burst["drain_seconds"] <= TARGETS["burst_drain_seconds"],
            "burst_p99": burst["lateness_ms"]["p99"] <= TARGETS["burst_p99_ms"],
            "steady_p99": steady["lateness_ms"]["p99"] <= TARGETS["steady_p99_ms"],
            "none_lost": burst["lost"] == 0 and steady["lost"] == 0,
            "none_fired_twice": burst["fired_twice"] == 0 and steady["fired_twice"] == 0,
            "list_no_seq_scan": not any(p["seq_scan"] for p in list_plans.values()),
        },
    }


if __name__ == "__main__":
    report = json_stdout()
    print(json.dumps(measure()), file=report, flush=True)
