"""The dispatchers' side of the timers' tables (asynchronous): claim, mark, record, release, the lease checks,
heartbeats and the delivery watch's reads, on the connections a :class:`~courier.timers.dispatcher.Dispatcher`
(and :mod:`courier.timers.watch`) holds. Part of the timers' store (:mod:`courier.timers.store`, the one owner
of these tables); status rules from :mod:`courier.timers.rules`.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any

import psycopg

from courier.db import claims
from courier.timers import rules
from courier.timers.models import Claimed, Delivery
from courier.timers.rules import Status
from courier.timers.store import CHANNEL, _query

_CLAIM = claims.statement(
    "courier_timers",
    "id",
    assign="""(status, lease_owner, lease_until, finished_at, last_error) = (
    SELECT CASE WHEN spent THEN 'failed' ELSE t.status END,
           CASE WHEN spent THEN NULL ELSE %(owner)s END,
           CASE WHEN spent THEN NULL ELSE greatest(t.next_attempt_at, now()) + make_interval(secs => %(lease)s) END,
           CASE WHEN spent THEN now() ELSE t.finished_at END,
           CASE WHEN spent THEN 'its dispatcher was lost ' || lost || ' times while sending it (does the answer '
                                'kill the dispatcher?): not sent again after ' || %(reclaims)s || ' takeovers'
                ELSE t.last_error END
    FROM (SELECT lost, lost > %(reclaims)s AS spent
          FROM (SELECT CASE WHEN t.status = 'firing'
                            THEN t.attempts - (SELECT count(*) FROM courier_timer_attempts a WHERE a.timer_id = t.id)
                            ELSE 0 END AS lost) AS l) AS s
)""",
    pick="""status IN ({open})
      AND next_attempt_at <= now() + make_interval(secs => %(horizon)s)
      AND (lease_until IS NULL OR lease_until < now()
           OR NOT EXISTS (SELECT 1 FROM courier_timer_dispatchers d
                          WHERE d.name = courier_timers.lease_owner
                            AND d.alive_until >= now() - CASE WHEN courier_timers.status = 'firing'
                                THEN make_interval(secs => %(grace)s) ELSE interval '0' END))""",
    order="next_attempt_at",
    returning="t.id, t.url, t.fire_at, t.next_attempt_at, t.payload::text, t.headers, t.expire_at, t.status",
)
"""The claimed ids come back as one array (``id = ANY(ARRAY(...))``), not as a CTE joined to the table: a join
on the CTE's estimated rows let the planner hash-join against a sequential scan of every timer (seen at 100 k
waiting, and in the generic plan of the prepared statement); an array of ids is always primary-key probes
(tests/integration/test_timers_scale.py).

A free ``firing`` timer (its dispatcher died mid-send) that has been taken over
:data:`~courier.timers.rules.MAX_RECLAIMS` times already is not leased but ``failed`` in the same statement
(``lost``: attempts marked without a recorded outcome), and :func:`claim` leaves it out."""
_MARK = """
UPDATE courier_timers t
SET status = 'firing', attempts = t.attempts + 1, lease_until = now() + make_interval(secs => %(lease)s)
FROM unnest(%(ids)s::text[]) AS m (id)
WHERE t.id = m.id AND t.lease_owner = %(owner)s AND t.status IN ({open})
  AND EXISTS (SELECT 1 FROM courier_timer_dispatchers WHERE name = %(owner)s AND alive_until >= now())
RETURNING t.id, t.attempts
"""
"""Timers by id are a join on ``unnest`` of the ids (a primary-key probe per id, :data:`DISPATCH_SESSION`), never
``id = ANY(%s)``: with an array of ids PostgreSQL 18 may choose a skip scan of an index that has ``id`` after
``created_at`` (the listings'), which costs a descent per distinct ``created_at`` (one per batch created):
~0.2 s per 1,000 ids with 300,000 timers created in batches, fresh statistics or not
(tests/integration/timers/test_store_per_fire.py)."""
_RECORD = """
WITH attempts AS (
    INSERT INTO courier_timer_attempts (timer_id, attempt, started_at, duration_ms, status_code, error, dispatcher)
    SELECT a.id, a.attempt, a.started, a.duration_ms, a.code, a.error, %(owner)s
    FROM unnest(%(a_id)s::text[], %(a_attempt)s::int[], %(a_started)s::timestamptz[], %(a_duration)s::float8[],
                %(a_code)s::int[], %(a_error)s::text[]) AS a (id, attempt, started, duration_ms, code, error)
    ON CONFLICT DO NOTHING
)
UPDATE courier_timers t
SET status = o.status,
    fired_at = coalesce(t.fired_at, o.started),
    finished_at = CASE WHEN o.final THEN now() END,
    next_attempt_at = coalesce(o.next, t.next_attempt_at),
    last_error = o.error,
    lease_owner = NULL, lease_until = NULL
FROM unnest(%(id)s::text[], %(status)s::text[], %(started)s::timestamptz[], %(final)s::bool[],
            %(next)s::timestamptz[], %(error)s::text[]) AS o (id, status, started, final, next, error)
WHERE t.id = o.id AND t.lease_owner = %(owner)s
"""
"""A batch of outcomes in one statement: the attempts sent (``INSERT … SELECT … FROM unnest``) and the timers'
new states, leases released (``UPDATE … FROM unnest``), one array per column."""
_RELEASE = """
UPDATE courier_timers t SET lease_owner = NULL, lease_until = NULL
FROM unnest(%(ids)s::text[]) AS r (id)
WHERE t.id = r.id AND t.lease_owner = %(owner)s AND t.status IN ({unfired})
"""
_HEARTBEAT = """
INSERT INTO courier_timer_dispatchers (name, alive_until) VALUES (%(owner)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (name) DO UPDATE SET alive_until = excluded.alive_until
"""
_DEAD = "SELECT name FROM courier_timer_dispatchers WHERE alive_until < now() AND name <> %(owner)s"
_BURY = "DELETE FROM courier_timer_dispatchers WHERE alive_until < now() - interval '1 minute'"

AsyncConn = psycopg.AsyncConnection[Any]

DISPATCH_SESSION = (
    "SELECT set_config('enable_seqscan', 'off', false), set_config('enable_hashjoin', 'off', false),"
    " set_config('enable_mergejoin', 'off', false)"
)
"""How a dispatcher's connections plan (:func:`dispatch_session`): every statement they run has an index path
(the due index for the claim, a primary-key probe per id for the mark and the record), and with sequential
scans, hash and merge joins off PostgreSQL takes it whatever its statistics say. With statistics of a table
where no timer was leased yet (right after a bulk load) the mark's ``lease_owner = …`` looked like it matched
nothing, and a scan of every timer looked cheaper than 1,000 probes; a fresh ``ANALYZE`` is no cure either
(tests/integration/timers/test_store_per_fire.py)."""


async def dispatch_session(conn: AsyncConn) -> None:
    """Set up a dispatcher's connection for the statements below (:data:`DISPATCH_SESSION`)."""
    await conn.execute(DISPATCH_SESSION)


def claim_statement(
    owner: str, *, horizon: float, limit: int, lease: float, grace: float
) -> tuple[str, dict[str, Any]]:
    """The claim query and its parameters, as :func:`claim` runs them."""
    params = {"horizon": horizon, "limit": limit, "owner": owner, "lease": lease, "grace": grace}
    params["reclaims"] = rules.MAX_RECLAIMS
    return _query(_CLAIM, open=rules.OPEN).as_string(None), params


async def claim(
    conn: AsyncConn, owner: str, *, horizon: float, limit: int, lease: float, grace: float
) -> builtins.list[Claimed]:
    """Lease up to ``limit`` open timers due within ``horizon`` s to ``owner`` (free ones: no lease, an expired
    lease, or a lease of a dispatcher whose heartbeat ran out, ``grace`` s later for a firing one). A firing one
    taken over :data:`~courier.timers.rules.MAX_RECLAIMS` times already is failed instead, and not returned. The
    payload comes back as its JSON text, sent as it is (never decoded and encoded again)."""
    rows = await (
        await conn.execute(*claim_statement(owner, horizon=horizon, limit=limit, lease=lease, grace=grace))
    ).fetchall()
    return [
        Claimed(next_at.timestamp(), timer_id, url, fire_at, payload, headers or {}, expire_at)
        for timer_id, url, fire_at, next_at, payload, headers, expire_at, status in rows
        if status != Status.FAILED
    ]


def mark_statement(owner: str, ids: builtins.list[str], lease: float) -> tuple[str, dict[str, Any]]:
    """The mark query and its parameters, as :func:`mark_firing` runs them."""
    return _query(_MARK, open=rules.OPEN).as_string(None), {"ids": ids, "owner": owner, "lease": lease}


async def mark_firing(
    conn: AsyncConn, owner: str, ids: builtins.list[str], lease: float
) -> builtins.list[tuple[Any, ...]]:
    """Set those of ``ids`` that ``owner`` still leases (with a live heartbeat) ``firing`` and count the attempt;
    return (id, attempt) of each one marked."""
    return await (await conn.execute(*mark_statement(owner, ids, lease))).fetchall()


async def record(conn: AsyncConn, owner: str, deliveries: builtins.list[Delivery]) -> None:
    """Write ``owner``'s delivery outcomes (releasing the leases) and the attempts sent, in one statement."""
    outcomes: dict[str, Delivery] = {}
    attempts: dict[str, builtins.list[Any]] = {k: [] for k in ("id", "attempt", "started", "duration", "code", "error")}
    for d in deliveries:
        outcomes[d.timer.id] = d  # the later of two outcomes of one timer wins, as it would in turn
        if d.started is not None:
            attempts["id"].append(d.timer.id)
            attempts["attempt"].append(d.timer.attempt)
            attempts["started"].append(d.started)
            attempts["duration"].append(round(d.duration_ms, 3))
            attempts["code"].append(d.code)
            attempts["error"].append(d.error if d.status is not Status.DELIVERED else None)
    final = [d.status is not Status.RETRYING for d in outcomes.values()]
    params: dict[str, Any] = {
        "owner": owner,
        "id": builtins.list(outcomes),
        "status": [str(d.status) for d in outcomes.values()],
        "started": [d.started for d in outcomes.values()],
        "final": final,
        "next": [d.next_at for d in outcomes.values()],
        "error": [d.error if d.status is not Status.DELIVERED else None for d in outcomes.values()],
    }
    params |= {f"a_{k}": v for k, v in attempts.items()}
    await conn.execute(_RECORD, params)


async def release(conn: AsyncConn, owner: str, ids: builtins.list[str]) -> None:
    """Hand back ``owner``'s leases on those of ``ids`` not fired yet."""
    await conn.execute(_query(_RELEASE, unfired=rules.UNFIRED), {"ids": ids, "owner": owner})


async def leased_by(conn: AsyncConn, owner: str, timer_ids: builtins.list[str]) -> set[str]:
    """Those of ``timer_ids`` that ``owner`` leases now."""
    cur = await conn.execute(
        "SELECT t.id FROM unnest(%s::text[]) AS c (id) JOIN courier_timers t ON t.id = c.id WHERE t.lease_owner = %s",
        (timer_ids, owner),
    )
    return {row[0] for row in await cur.fetchall()}


async def announcements(conn: AsyncConn) -> AsyncIterator[str]:
    """The earliest due times (epoch seconds, as text) that :meth:`TimerStore.create` announces."""
    await conn.execute(f"LISTEN {CHANNEL}")
    async for note in conn.notifies():
        yield note.payload


async def status_of(conn: AsyncConn, timer_id: str) -> tuple[str, str | None] | None:
    """(status, last error) of ``timer_id``; None when there is no such timer."""
    cur = await conn.execute("SELECT status, last_error FROM courier_timers WHERE id = %s", (timer_id,))
    row = await cur.fetchone()
    return None if row is None else (row[0], row[1])


async def statuses_of(conn: AsyncConn, timer_ids: builtins.list[str]) -> dict[str, tuple[str, str | None]]:
    """(status, last error) of each of ``timer_ids`` that exists, in one query (the delivery watch's poll)."""
    cur = await conn.execute(
        "SELECT t.id, t.status, t.last_error FROM unnest(%s::text[]) AS w (id) JOIN courier_timers t ON t.id = w.id",
        (timer_ids,),
    )
    return {row[0]: (row[1], row[2]) for row in await cur.fetchall()}


def heartbeat(conn: psycopg.Connection[Any], owner: str, ttl: float) -> None:
    """Renew ``owner``'s liveness for ``ttl`` s (blocking: the heartbeat thread)."""
    conn.execute(_HEARTBEAT, {"owner": owner, "ttl": ttl})


OVERDUE_AFTER = 10.0
"""Seconds past its next attempt after which an open timer counts as overdue (the ``courier.timers.overdue``
gauge): a dispatcher marks and sends a due timer well within a second."""
OVERDUE_CAP = 10_000
"""The overdue count stops at this: a bounded index range scan in the heartbeat thread, however large a backlog."""
_OVERDUE = """
SELECT count(*) FROM (SELECT 1 FROM courier_timers WHERE status IN ({open})
  AND next_attempt_at < now() - make_interval(secs => %(after)s) LIMIT %(cap)s) overdue
"""


def overdue_count(conn: psycopg.Connection[Any], after: float = OVERDUE_AFTER, cap: int = OVERDUE_CAP) -> int:
    """Open timers more than ``after`` seconds past their next attempt, counted up to ``cap`` (blocking: the
    heartbeat thread)."""
    row = conn.execute(_query(_OVERDUE, open=rules.OPEN), {"after": after, "cap": cap}).fetchone()
    return int(row[0]) if row else 0


def dead_dispatchers(conn: psycopg.Connection[Any], owner: str) -> set[str]:
    """Forget dispatchers dead for a minute; return the others whose heartbeat has run out (their claims are
    free)."""
    dead = {r[0] for r in conn.execute(_DEAD, {"owner": owner}).fetchall()}
    conn.execute(_BURY)
    return dead


async def retire(conn: AsyncConn, owner: str) -> None:
    """Remove ``owner``'s heartbeat row (a clean stop)."""
    await conn.execute("DELETE FROM courier_timer_dispatchers WHERE name = %s", (owner,))
