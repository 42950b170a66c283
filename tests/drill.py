"""Failover drills for timers: schedule a load straight into the Courier database, then read back what
happened to it (lost, fired twice, lateness after a given instant).

The chaos tests (``tests/e2e/test_chaos.py``) and ``bench/failover.py`` use it around a component kill. Lateness is ``fired_at - fire_at`` as recorded by the dispatcher (the start
of the send that was committed), so it includes a takeover after a dispatcher died.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from courier.timers import rules
from courier.timers.models import NewTimer, new_id
from courier.timers.store import TimerStore

CHUNK = 1000


@dataclass(frozen=True)
class Load:
    """Timers of one drill: their ids and the wall-clock instant the first is due."""

    ids: list[str]
    first_due: float
    last_due: float


def schedule(db_url: str, url: str, count: int, first: float, spread: float, tag: str = "drill") -> Load:
    """Create ``count`` timers to ``url`` due evenly from ``first`` to ``first + spread`` seconds from now."""
    now = datetime.now(UTC)
    step = spread / max(count - 1, 1)
    timers = [
        NewTimer(
            id=new_id(),
            url=url,
            fire_at=now + timedelta(seconds=first + step * i),
            payload={"drill": tag, "n": i},
            headers={},
            idempotency_key=None,
            expire_at=None,
        )
        for i in range(count)
    ]
    store = TimerStore(db_url)
    for start in range(0, count, CHUNK):
        store.create(timers[start : start + CHUNK], created_by=f"drill:{tag}")
    return Load([t.id for t in timers], timers[0].fire_at.timestamp(), timers[-1].fire_at.timestamp())


# The drills read the timers' tables directly: they are test instruments, not product queries (the package's
# one owner of these tables, courier.timers.store, serves the API, the pages and the dispatchers).


def open_count(db_url: str, ids: list[str]) -> int:
    """Return how many of ``ids`` are not final yet (their status is one of the rules' ``OPEN``)."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM courier_timers WHERE id = ANY(%s) AND status = ANY(%s)",
            (ids, [str(s) for s in rules.OPEN]),
        ).fetchone()
    return int(row[0]) if row else 0


def live_dispatchers(db_url: str) -> int:
    """How many dispatchers have a heartbeat that has not run out."""
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT count(*) FROM courier_timer_dispatchers WHERE alive_until > now()").fetchone()
    return int(row[0]) if row else 0


def deliveries(db_url: str, ids: list[str]) -> list[tuple[str, int, float, float | None, int]]:
    """Per timer of ``ids``: status, attempts counted, due and fired (epoch seconds), attempt rows recorded."""
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT t.status, t.attempts, extract(epoch FROM t.fire_at)::float8,"
            " extract(epoch FROM t.fired_at)::float8,"
            " (SELECT count(*) FROM courier_timer_attempts a WHERE a.timer_id = t.id)"
            " FROM courier_timers t WHERE t.id = ANY(%s)",
            (ids,),
        ).fetchall()
    return [(status, attempts, due, fired, recorded) for status, attempts, due, fired, recorded in rows]


def wait_final(db_url: str, ids: list[str], timeout: float) -> bool:
    """Wait until every timer of ``ids`` is final; return False on timeout."""
    deadline = time.monotonic() + timeout
    while open_count(db_url, ids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (``q`` in 0..1); 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def outcome(db_url: str, ids: list[str], after: float | None = None, window: float | None = None) -> dict[str, Any]:
    """Count lost / fired-twice / re-sent timers of ``ids``; lateness (ms) of those due in ``[after, after+window]``.

    * ``lost``: not delivered; * ``fired_twice``: more than one attempt recorded in the database;
    * ``resent``: sent again by a surviving dispatcher (``attempts`` > 1) with the same ``webhook-id``.
    """
    rows = deliveries(db_url, ids)
    due_from = after if after is not None else float("-inf")
    due_to = due_from + window if window is not None else float("inf")
    lateness = [
        (float(fired) - float(due)) * 1000
        for _, _, due, fired, _ in rows
        if fired is not None and due_from <= float(due) <= due_to
    ]
    return {
        "timers": len(ids),
        "lost": len(ids) - sum(1 for status, *_ in rows if status == "delivered"),
        "fired_twice": sum(1 for *_, recorded in rows if recorded > 1),
        "resent": sum(1 for _, attempts, *_ in rows if attempts > 1),
        "measured": len(lateness),
        "p50_ms": round(percentile(lateness, 0.5), 1),
        "p99_ms": round(percentile(lateness, 0.99), 1),
        "max_ms": round(max(lateness, default=0.0), 1),
        "early": sum(1 for late in lateness if late < 0),
    }
