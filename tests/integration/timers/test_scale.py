"""The timer queries stay index-bound with many timers waiting (issue #20): the plans PostgreSQL picks for the
dispatcher's claim and the API's listing, with 100,000 waiting timers in a real database. No timing: a plan
that reads every row shows in ``EXPLAIN`` long before it shows on a clock (bench/scale/timers.py measures)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from courier.timers.dispatcher import DispatcherSettings, claim_statement
from courier.timers.models import new_id
from courier.timers.rules import Status
from courier.timers.store import list_query

WAITING = 100_000
CANCELLED = 5


def _load(url: str, count: int) -> None:
    """``count`` timers due evenly over the next three days (COPY: this is the setup, not the subject), the
    first ``CANCELLED`` of them cancelled, then ANALYZE as autovacuum would."""
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(
            "COPY courier_timers (id, url, fire_at, next_attempt_at, payload, headers, created_at) FROM STDIN"
        ) as copy:
            for i in range(count):
                due = now + timedelta(hours=1, seconds=3 * 86400 * i / count)
                created = now - timedelta(seconds=(count - i) / 1000)
                copy.write_row((new_id(), "http://127.0.0.1:9/hooks/", due, due, json.dumps({"n": i}), "{}", created))
        conn.execute(
            "UPDATE courier_timers SET status = 'cancelled', finished_at = now() "
            "WHERE id IN (SELECT id FROM courier_timers ORDER BY created_at LIMIT %s)",
            (CANCELLED,),
        )
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE courier_timers")


def _plan(conn: psycopg.Connection[Any], sql: str, params: Any) -> str:
    plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + sql, params).fetchall())
    conn.rollback()
    return plan


@pytest.fixture
def many_waiting(courier_db: str) -> str:
    _load(courier_db, WAITING)
    return courier_db


@pytest.mark.parametrize("plan_cache_mode", ["force_custom_plan", "force_generic_plan"])
def test_the_claim_query_walks_the_due_index_not_the_table(many_waiting: str, plan_cache_mode: str) -> None:
    """The claim the dispatcher runs (``claim_statement``, its own settings) reads the partial index of open
    timers by due time, whether PostgreSQL plans it for the values given or generically (a prepared
    statement after a few runs): a poll with nothing due, and a claim horizon covering every timer."""
    settings = DispatcherSettings(secret="unused")
    with psycopg.connect(many_waiting) as conn:
        conn.execute(f"SET plan_cache_mode = {plan_cache_mode}")
        for horizon in (settings.horizon, 4 * 86400):
            sql, params = claim_statement(
                DispatcherSettings(secret="unused", horizon=horizon), "test:owner", settings.batch
            )
            if plan_cache_mode == "force_generic_plan":
                conn.execute("PREPARE claim(float8, int, text, float8, float8, int) AS " + _numbered(sql))
                values = [params[name] for name in ("horizon", "limit", "owner", "lease", "grace", "reclaims")]
                call = psycopg.sql.SQL("EXECUTE claim({})").format(
                    psycopg.sql.SQL(", ").join(map(psycopg.sql.Literal, values))
                )
                plan = _plan(conn, call.as_string(conn), None)
                conn.execute("DEALLOCATE claim")
            else:
                plan = _plan(conn, sql, params)
            assert "Index Scan using courier_timers_due on courier_timers" in plan, plan
            assert "Seq Scan on courier_timers" not in plan, plan
            assert "Sort" not in plan, plan  # the index gives the due order: the LIMIT stops the scan early
            assert re.search(r"(Index Scan using|Bitmap Index Scan on) courier_timers_pkey", plan), plan  # the ids


def _numbered(sql: str) -> str:
    for number, name in enumerate(("horizon", "limit", "owner", "lease", "grace", "reclaims"), start=1):
        sql = sql.replace(f"%({name})s", f"${number}")
    return sql


@pytest.mark.parametrize("status", [None, Status.SCHEDULED, Status.CANCELLED])
@pytest.mark.parametrize("deeper", [False, True])
def test_a_listing_page_reads_an_index_not_every_timer(many_waiting: str, status: Status | None, deeper: bool) -> None:
    """A page of ``GET /courier/timers`` (``list_query``, keyset on ``(created_at, id)``), with or without a
    status filter, first page or by cursor, is an index scan in listing order: no sequential scan and no sort of
    100,000 rows, even when the status asked for is rare (5 cancelled among 100,000 scheduled)."""
    with psycopg.connect(many_waiting) as conn:
        cursor = None
        if deeper:
            from courier.db.paging import encode_cursor

            row = conn.execute("SELECT created_at, id FROM courier_timers ORDER BY created_at DESC OFFSET 500 LIMIT 1")
            created, timer_id = row.fetchone()  # type: ignore[misc]
            cursor = encode_cursor(created, timer_id)
        sql, args = list_query(status, 100, cursor)
        plan = _plan(conn, sql, args)
    assert "Seq Scan" not in plan, plan
    assert "Sort" not in plan.replace("Sort Key", ""), plan
    assert "Index Scan" in plan, plan
