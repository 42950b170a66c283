"""What PostgreSQL does per fired timer (issue #27): the lease of a claim is a HOT update (no index entry
written), and a timer looked up by id for its mark is a primary-key probe however the timers were created
(a bulk load through the batch API: one ``created_at`` per batch). Plans and counters, no clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from courier.timers.models import NewTimer, new_id
from courier.timers.store import TimerStore
from courier.timers.store import dispatch as store

OWNER = "test:owner"


def _due_now(count: int) -> list[NewTimer]:
    now = datetime.now(UTC)
    return [NewTimer(new_id(), "http://127.0.0.1:9/hooks/", now, {"n": i}, {}, None, None) for i in range(count)]


def _alive(conn: Any) -> None:
    conn.execute(
        "INSERT INTO courier_timer_dispatchers (name, alive_until) VALUES (%s, now() + interval '1 hour')", (OWNER,)
    )


async def test_a_claim_writes_the_lease_as_a_hot_update(courier_db: str) -> None:
    """The timers of a batch sit side by side in full pages; a claim of them changes only the lease, so with
    room left on each page (fillfactor, migration 0014) PostgreSQL writes no new index entry for it."""
    TimerStore(courier_db).create(_due_now(500))
    with psycopg.connect(courier_db, autocommit=True) as conn:
        _alive(conn)
    async with await psycopg.AsyncConnection.connect(courier_db) as conn:  # one transaction: its own counters
        claimed = await store.claim(conn, OWNER, horizon=2.0, limit=500, lease=10.0, grace=5.0)
        row = await (
            await conn.execute(
                "SELECT pg_stat_get_xact_tuples_updated('courier_timers'::regclass),"
                " pg_stat_get_xact_tuples_hot_updated('courier_timers'::regclass)"
            )
        ).fetchone()
        await conn.commit()
    assert len(claimed) == 500 and row is not None
    updated, hot = row
    assert updated == 500 and hot >= 0.9 * updated, f"{hot} of {updated} lease updates were HOT"


def _bulk_loaded(url: str, count: int, per_batch: int) -> None:
    """``count`` timers as the batch API leaves them (``created_at`` is one transaction's: one per batch), then
    ANALYZE as autovacuum would (fresh statistics: the plan below does not depend on them being stale)."""
    now = datetime.now(UTC)
    with (
        psycopg.connect(url) as conn,
        conn.cursor().copy(
            "COPY courier_timers (id, url, fire_at, next_attempt_at, payload, headers, created_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(count):
            due = now + timedelta(hours=1, seconds=i)
            created = now - timedelta(seconds=(count - i) // per_batch)
            copy.write_row((new_id(), "http://127.0.0.1:9/far/", due, due, json.dumps({"n": i}), "{}", created))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE courier_timers")


@pytest.mark.timeout(300)
def test_marking_a_batch_probes_the_primary_key_after_a_bulk_load(courier_db: str) -> None:
    """PostgreSQL 18 may answer ``id = ANY(<1,000 ids>)`` with a skip scan of a listing index (``id`` after
    ``created_at``): a descent per batch ever created, ~0.2 s per mark with 300,000 timers; and with no timer
    leased when the statistics were taken, ``lease_owner = …`` looks like it matches nothing, so a scan of every
    timer looks cheap. The mark joins the ids, on a connection set up as a dispatcher's: one primary-key probe
    each."""
    _bulk_loaded(courier_db, 100_000, 1000)
    with psycopg.connect(courier_db) as conn:
        conn.execute(store.DISPATCH_SESSION)  # as a dispatcher's connection
        ids = [r[0] for r in conn.execute("SELECT id FROM courier_timers ORDER BY random() LIMIT 1000").fetchall()]
        sql, params = store.mark_statement(OWNER, ids, 20.0)
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, params).fetchall())
        conn.rollback()
    assert "Index Scan using courier_timers_pkey on courier_timers" in plan, plan
    assert "listing" not in plan and "Seq Scan on courier_timers" not in plan, plan


@pytest.mark.timeout(300)
def test_the_claim_after_a_bulk_load_walks_the_due_index_and_probes_the_primary_key(courier_db: str) -> None:
    """The same load, a claim whose horizon covers 1,000 of the loaded timers, as a dispatcher runs it."""
    _bulk_loaded(courier_db, 100_000, 1000)
    with psycopg.connect(courier_db) as conn:
        conn.execute(store.DISPATCH_SESSION)
        _alive(conn)
        sql, params = store.claim_statement(OWNER, horizon=3600 + 1000, limit=1000, lease=10.0, grace=5.0)
        result = conn.execute("EXPLAIN (ANALYZE) " + sql, params).fetchall()
        conn.rollback()
    plan = "\n".join(r[0] for r in result)
    assert "Index Scan using courier_timers_due on courier_timers" in plan, plan
    assert re.search(r"(Index Scan using|Bitmap Index Scan on) courier_timers_pkey", plan), plan
    assert "listing" not in plan and "Seq Scan on courier_timers" not in plan, plan
