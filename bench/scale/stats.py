"""Scale of Courier's stats: ingest with 10 M raw events stored, roll-up of 10 M vs 1 M, prune of many partitions.

One embedded stack (PostgreSQL, Airflow's API server as ``courier up`` runs it) with the ``stats_rollup`` DAG
paused, so that no live roll-up or prune competes with what is measured (roll-ups and prunes are run here,
by ``StatsStore``, and timed):

1. **Ingest, empty table**: 4 clients post 2,000-event batches to ``POST /courier/stats`` for 30 s, each batch
   on a new connection (``bench/stats.py``'s client) -> events/s, and per API-server process.
2. **Roll-up, 1 M then 10 M**: the raw table emptied, then the events loaded straight into
   ``courier_stat_chunks`` with ``COPY`` (the "already stored" part: not through the API, said so in the
   output) over the 10 minutes before now, i.e. inside the default 600 s raw retention, 20 names x 3 tag sets,
   each minute marked dirty; one ``StatsStore.rollup()`` of those 10 minutes is timed. So the 10 M are 10x
   as dense per minute as the 1 M (1 M events per minute), the case where a per-minute sort would bend.
3. **Ingest with the 10 M present** (rolled up, inside the window): the same clients, the same 30 s; a CHECKPOINT
   before each ingest run and each timed prune, so a load's write-back is not what is measured.
4. **Prune of a large partition set**: 500 minute partitions two days back, rolled up, with few raw events
   (one chunk of 100 per minute) and then with many (10 M over the 500); one ``StatsStore.prune()`` each.

Also reported: the disk the 10 M take (the raw partitions and the whole database) and the memory of the
API-server and PostgreSQL processes, sampled every 0.5 s (peak RSS; PostgreSQL's shared buffers are counted
in each of its processes that touched them).

Targets: ingest with 10 M present >= 0.8x the empty table's; roll-up of 10 M <= 11x that of 1 M; prune time
independent of the raw row count (many/few <= 1.5). ``COURIER_SCALE=small``: 100 k and 1 M events, 100
partitions, 8 s of ingest. Run: ``uv run python -m bench.scale.stats``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import psycopg

from bench.lib.stack import bench_stack, json_stdout
from bench.stats import NAMES, TAGS, ingest_run, raw_count, rolled_timed
from courier.runtime.processes import tagged_processes
from courier.stats.chunks import COPY_COLUMNS, Groups, chunk_copy, micros
from courier.stats.store import GRACE, PARENT, StatsStore, ensure_partitions

REPO = Path(__file__).resolve().parents[2]
DAG = "stats_rollup"
SIZES = {
    "full": {"events": (1_000_000, 10_000_000), "partitions": 500, "ingest_seconds": 30.0},
    "small": {"events": (100_000, 1_000_000), "partitions": 100, "ingest_seconds": 8.0},
}
WINDOW_MINUTES = 10
CLIENTS, BATCH = 4, 2_000
TARGETS = {"ingest_ratio_at_least": 0.8, "rollup_ratio_at_most": 11.0, "prune_ratio_at_most": 1.5}
SERIES = [
    f"{name}\t{json.dumps(tags, sort_keys=True, separators=(',', ':'))}\ttimer\t" for name in NAMES for tags in TAGS
]
MB = 1024 * 1024


class MemorySampler(threading.Thread):
    """Peak RSS of the stack's API-server processes (each) and of PostgreSQL (all its processes summed)."""

    def __init__(self, stack_id: str, postmaster_pid: Path) -> None:
        super().__init__(daemon=True)
        self.stack_id = stack_id
        self.postmaster = psutil.Process(int(postmaster_pid.read_text().split()[0]))
        self.peaks: dict[str, float] = {"api_server_process_max_mb": 0.0, "postgres_total_mb": 0.0}
        self.done = threading.Event()

    def run(self) -> None:
        api = tagged_processes(self.stack_id, "api-server")
        while not self.done.wait(0.5):
            self._peak("api_server_process_max_mb", max((_rss(p) for p in api), default=0.0))
            try:
                postgres = [self.postmaster, *self.postmaster.children()]
            except psutil.Error:
                continue
            self._peak("postgres_total_mb", sum(_rss(p) for p in postgres))

    def _peak(self, key: str, value: float) -> None:
        self.peaks[key] = round(max(self.peaks[key], value), 1)


def _rss(process: psutil.Process) -> float:
    try:
        return float(process.memory_info().rss) / MB
    except psutil.Error:
        return 0.0


def _copy(db_url: str, minutes: list[datetime], per_minute: int, seed: int) -> float:
    """COPY ``per_minute`` events into each of ``minutes`` (20 names x 3 tag sets, times spread over the
    minute); return the seconds it took, generating the text included."""
    rng = random.Random(seed)
    began = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        ensure_partitions(conn, minutes, db_url)
        for minute in minutes:
            base = micros(minute)
            share = per_minute // len(SERIES)
            groups: Groups = {
                (series, base // 60_000_000): (
                    [base + rng.randrange(60_000_000) for _ in range(share)],
                    [rng.gauss(100, 25) for _ in range(share)],
                )
                for series in SERIES
            }
            with conn.cursor().copy(f"COPY {PARENT} ({COPY_COLUMNS}) FROM STDIN") as copy:
                copy.write(chunk_copy(groups)[0])
    return time.perf_counter() - began


def _empty(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {PARENT}, courier_stat_dirty")


def _checkpoint(db_url: str) -> None:
    """Flush what a load wrote (as happens long before data this old is read or dropped), so that its
    write-back is not what the next phase measures."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def _sizes(db_url: str) -> dict[str, Any]:
    with psycopg.connect(db_url, autocommit=True) as conn:
        raw, chunks, events = conn.execute(
            f"SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('{PARENT}')), "
            f"count(*), coalesce(sum(cardinality(vals)), 0) FROM {PARENT}"
        ).fetchone()  # type: ignore[misc]
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    return {
        "raw_events": int(events),
        "raw_rows_chunks": int(chunks),
        "raw_partitions_mb": round(int(raw or 0) / MB, 1),
        "database_mb": round(int(database) / MB, 1),
        "raw_bytes_per_event": round(int(raw or 0) / max(int(events), 1), 1),
    }


def _ingest(url: str, token: str, db_url: str, seconds: float) -> dict[str, Any]:
    """One ingest run through the API; every accepted event must be in the database afterwards."""
    before = raw_count(db_url)
    _checkpoint(db_url)
    run = ingest_run(url, token, CLIENTS, BATCH, seconds, keep_alive=False)
    run["raw_events_before"] = before
    run["events_in_database"] = raw_count(db_url) - before
    return run


def _rollup(db_url: str, events: int) -> dict[str, Any]:
    """Load ``events`` over the 10 minutes before now (dirty), then time one roll-up of them."""
    _empty(db_url)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    minutes = [end - timedelta(minutes=WINDOW_MINUTES - i) for i in range(WINDOW_MINUTES)]
    load_seconds = _copy(db_url, minutes, events // WINDOW_MINUTES, seed=events)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courier_stat_dirty (minute) SELECT unnest(%s::timestamptz[])", (minutes,)
        )  # as ingest marks them
        conn.execute("VACUUM ANALYZE courier_stat_chunks")  # what autovacuum does after a load
    result, seconds = rolled_timed(StatsStore(db_url), now=end + GRACE)
    if result["minutes"] != WINDOW_MINUTES:
        raise RuntimeError(f"the roll-up of {events} events covered {result}")
    return {
        "events": events,
        "minutes": WINDOW_MINUTES,
        "events_per_minute": events // WINDOW_MINUTES,
        "load": "COPY of chunk rows straight into courier_stat_chunks (not through the API)",
        "load_seconds": round(load_seconds, 2),
        "rollup_seconds": round(seconds, 2),
        "rollup_events_per_second": round(events / seconds),
        "rollup_rows": result["rows"],
        "disk": _sizes(db_url),
    }


def _prune(db_url: str, partitions: int, per_minute: int) -> dict[str, Any]:
    """``partitions`` rolled-up minutes two days back with ``per_minute`` events each; time one prune."""
    start = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
    minutes = [start + timedelta(minutes=i) for i in range(partitions)]
    load_seconds = _copy(db_url, minutes, per_minute, seed=per_minute)
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM courier_stat_chunks")  # as autovacuum has long done to minutes this old
    size = _sizes(db_url)
    _checkpoint(db_url)
    now = minutes[-1] + timedelta(hours=1)  # every one of them is past the raw retention, none of today's
    began = time.perf_counter()
    result = StatsStore(db_url).prune(600.0, 10.0 * 365 * 86_400, now=now)
    seconds = time.perf_counter() - began
    if result.get("dropped", 0) < partitions:
        raise RuntimeError(f"prune of {partitions} partitions: {result}")
    return {
        "partitions": partitions,
        "events_per_partition": per_minute,
        "raw_events": size["raw_events"],
        "raw_partitions_mb": size["raw_partitions_mb"],
        "load_seconds": round(load_seconds, 2),
        "prune_seconds": round(seconds, 3),
        "result": result,
    }


def measure() -> dict[str, Any]:
    """Run every phase on one stack; return the figures, their ratios and the targets."""
    scale = "small" if os.environ.get("COURIER_SCALE") == "small" else "full"
    size = SIZES[scale]
    small, large = size["events"]
    stack, home = bench_stack("scale-stats", [REPO / "dags" / f"{DAG}.py"])
    load_before = os.getloadavg()
    try:
        stack.start()
        api = stack.api()
        db_url = stack.courier_url
        try:
            api.request("PATCH", f"/api/v2/dags/{DAG}", json={"is_paused": True}).raise_for_status()
            token = api.token()
            api.request("POST", "/courier/stats", json=[{"name": "bench.warmup", "value": 1}]).raise_for_status()
        finally:
            api.close()
        assert stack.postgres is not None
        sampler = MemorySampler(stack.stack_id, stack.postgres.data_dir / "postmaster.pid")
        sampler.start()
        seconds = float(size["ingest_seconds"])
        _empty(db_url)
        empty = _ingest(stack.url, token, db_url, seconds)
        rollups = [_rollup(db_url, small), _rollup(db_url, large)]
        present = _ingest(stack.url, token, db_url, seconds)
        _empty(db_url)
        partitions = int(size["partitions"])
        prunes = [_prune(db_url, partitions, 100), _prune(db_url, partitions, large // partitions)]
        sampler.done.set()
        sampler.join()
    finally:
        stack.stop()
        shutil.rmtree(home, ignore_errors=True)
    workers = stack.api_workers
    for run in (empty, present):
        run["events_per_second_per_api_process"] = round(run["events_per_second"] / workers)
    ingest_ratio = present["events_per_second"] / max(empty["events_per_second"], 1)
    rollup_ratio = rollups[1]["rollup_seconds"] / rollups[0]["rollup_seconds"]
    prune_ratio = prunes[1]["prune_seconds"] / prunes[0]["prune_seconds"]
    return {
        "benchmark": "scale_stats",
        "scale": scale,
        "command": "uv run python -m bench.scale.stats" + (" (COURIER_SCALE=small)" if scale == "small" else ""),
        "machine": {"cpus": os.cpu_count(), "api_processes": workers, "load_average_before": load_before},
        "stats_rollup_dag": "paused: roll-ups and prunes run by the benchmark, timed",
        "ingest": {
            "client": f"{CLIENTS} clients, {BATCH}-event batches, one connection per batch, through the API",
            "empty_table": empty,
            "with_raw_events_present": present,
        },
        "rollup": {str(small): rollups[0], str(large): rollups[1]},
        "prune": {"few_raw_events": prunes[0], "many_raw_events": prunes[1]},
        "memory_peak": sampler.peaks,
        "ratios": {
            "ingest_present_vs_empty": round(ingest_ratio, 3),
            "rollup_large_vs_small": round(rollup_ratio, 2),
            "prune_many_vs_few": round(prune_ratio, 2),
        },
        "targets": TARGETS,
        "targets_met": {
            "ingest_ratio": ingest_ratio >= TARGETS["ingest_ratio_at_least"],
            "rollup_ratio": rollup_ratio <= TARGETS["rollup_ratio_at_most"],
            "prune_ratio": prune_ratio <= TARGETS["prune_ratio_at_most"],
            "ingest_nothing_lost_or_refused": all(
                not run["refused"] and run["events_in_database"] == run["events_accepted"] for run in (empty, present)
            ),
        },
    }


if __name__ == "__main__":
    report = json_stdout()
    report.write(json.dumps(measure()) + "\n")
    report.flush()
    sys.exit(0)
