"""Why the stats roll-up stays linear at 10 M raw events, checked in the plan (never by timing it).

A minute's roll-up must read only that minute's partition (partition pruning: the other minutes' events cost
it nothing, however many there are), and the only sort before the aggregation must be of chunk rows (up to
100 events each) - never of the events unnested from them, which would be a sort of every event of the minute.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from courier.stats.chunks import Row
from courier.stats.store import ROLLUP_MINUTE, StatsStore, partition_name

EVENTS = 100_000
MINUTES = 4


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def test_rollup_of_a_minute_reads_its_partition_and_sorts_chunks_not_events(courier_db: str) -> None:
    first = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    minutes = [first + timedelta(minutes=m) for m in range(MINUTES)]
    rng = random.Random(5)
    rows: list[Row] = []
    for index in range(EVENTS):
        minute = minutes[index % MINUTES]
        tags = rng.choice(['{"host":"h1"}', '{"host":"h2"}', "{}"])
        rows.append(
            (minute, minute + timedelta(microseconds=rng.randrange(60_000_000)), f"m{index % 20}", tags, "timer", 1.0)
        )
    StatsStore(courier_db).ingest(rows)
    with psycopg.connect(courier_db, autocommit=True) as conn:
        conn.execute("ANALYZE courier_stat_chunks")
        plan = conn.execute(f"EXPLAIN (FORMAT JSON) {ROLLUP_MINUTE}", {"minute": minutes[1]}).fetchone()[0][0]["Plan"]  # type: ignore[index]
    nodes = list(_nodes(plan))
    scanned = {n["Relation Name"] for n in nodes if "Scan" in n["Node Type"] and "Relation Name" in n}
    assert scanned == {partition_name(minutes[1])}, f"the roll-up of one minute scans {sorted(scanned)}"
    unnest = [n for n in nodes if n["Node Type"] == "Function Scan"]
    assert unnest, "the chunks are unnested into events"
    for sort in (n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")):
        below = list(_nodes(sort))
        assert not any(n["Node Type"] == "Function Scan" for n in below), f"a sort of events: {sort['Sort Key']}"
    rows_sorted = [n["Plan Rows"] for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
    assert all(r < EVENTS // MINUTES // 10 for r in rows_sorted), f"sorts of {rows_sorted} rows"
