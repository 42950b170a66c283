"""Timers in the Courier database, for the API and operators (blocking psycopg).

Creating timers notifies the ``courier_timers`` channel so a dispatcher claims a timer due in the next
moment at once instead of at its next poll.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from courier.db.hook import CONNECT_TIMEOUT
from courier.db.paging import decode_cursor, encode_cursor
from courier.timers.models import AttemptOut, NewTimer, TimerOut
from courier.timers.rules import OPEN, Status

CHANNEL = "courier_timers"
COLUMNS = (
    "id, url, status, fire_at, created_at, fired_at, finished_at, attempts, next_attempt_at, expire_at, "
    "idempotency_key, headers, payload, last_error"
)
_INSERT = f"""
INSERT INTO courier_timers (id, url, fire_at, next_attempt_at, payload, headers, idempotency_key, expire_at, created_by)
VALUES (%(id)s, %(url)s, %(fire_at)s, %(fire_at)s, %(payload)s, %(headers)s, %(key)s, %(expire_at)s, %(by)s)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING {COLUMNS}
"""


def list_query(status: Status | None, limit: int, cursor: str | None) -> tuple[str, list[Any]]:
    """One page of the listing (``limit + 1`` rows, to tell whether more follow): keyset on
    ``(created_at, id)``, so a page reads ``limit + 1`` index entries however many timers exist."""
    where: list[str] = []
    args: list[Any] = []
    if status is not None:
        where.append("status = %s")
        args.append(str(status))
    if cursor:
        created, timer_id = decode_cursor(cursor)
        where.append("(created_at, id) < (%s, %s)")
        args += [created, timer_id]
    sql = f"SELECT {COLUMNS} FROM courier_timers"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY created_at DESC, id DESC LIMIT %s", [*args, limit + 1]


class TimerNotFound(LookupError):
    pass


class TimerNotCancellable(RuntimeError):
    def __init__(self, timer: TimerOut) -> None:
        super().__init__(f"timer {timer.id} is {timer.status}; only scheduled or retrying timers can be cancelled")
        self.timer = timer


def to_out(row: dict[str, Any], attempts: list[dict[str, Any]] | None = None) -> TimerOut:
    lateness = None
    if row["fired_at"] is not None:
        lateness = round((row["fired_at"] - row["fire_at"]).total_seconds() * 1000, 3)
    return TimerOut(
        id=row["id"],
        url=row["url"],
        status=row["status"],
        fire_at=row["fire_at"],
        created_at=row["created_at"],
        fired_at=row["fired_at"],
        finished_at=row["finished_at"],
        lateness_ms=lateness,
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"] if row["status"] in OPEN else None,
        expire_at=row["expire_at"],
        idempotency_key=row["idempotency_key"],
        header_names=sorted(row["headers"] or {}),
        payload=row["payload"],
        last_error=row["last_error"],
        attempt_log=None if attempts is None else [AttemptOut(**a) for a in attempts],
    )


class TimerStore:
    """Create, read, list and cancel timers. Each call uses its own short connection from ``connect``."""

    def __init__(self, conninfo: str | None = None) -> None:
        if conninfo is None:
            from courier.db.hook import CourierDbHook

            conninfo = CourierDbHook().conninfo()
        self.conninfo = conninfo

    def _connect(self) -> psycopg.Connection[dict[str, Any]]:
        return psycopg.connect(self.conninfo, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT)

    def create(self, timers: list[NewTimer], created_by: str | None = None) -> list[tuple[TimerOut, bool]]:
        """Insert all of ``timers`` in one transaction; return each with ``True`` if new.

        A timer whose ``idempotency_key`` exists already is not inserted: the existing one is returned.
        """
        params = [
            {
                "id": t.id,
                "url": t.url,
                "fire_at": t.fire_at,
                "payload": Jsonb(t.payload),
                "headers": Jsonb(t.headers),
                "key": t.idempotency_key,
                "expire_at": t.expire_at,
                "by": created_by,
            }
            for t in timers
        ]
        results: list[tuple[TimerOut, bool]] = []
        with self._connect() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(_INSERT, params, returning=True)
            inserted: dict[str, dict[str, Any]] = {}
            while True:
                row = cur.fetchone()
                if row is not None:
                    inserted[row["id"]] = row
                if not cur.nextset():
                    break
            missing = [t.idempotency_key for t in timers if t.id not in inserted]
            existing: dict[str, dict[str, Any]] = {}
            if missing:
                cur.execute(f"SELECT {COLUMNS} FROM courier_timers WHERE idempotency_key = ANY(%s)", (missing,))
                existing = {r["idempotency_key"]: r for r in cur.fetchall()}
            for t in timers:
                if t.id in inserted:
                    results.append((to_out(inserted[t.id]), True))
                else:
                    results.append((to_out(existing[t.idempotency_key]), False))  # type: ignore[index]
            if inserted:
                earliest = min(r["fire_at"] for r in inserted.values())
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(earliest.timestamp())))
        return results

    def get(self, timer_id: str) -> TimerOut:
        with self._connect() as conn:
            row = conn.execute(f"SELECT {COLUMNS} FROM courier_timers WHERE id = %s", (timer_id,)).fetchone()
            if row is None:
                raise TimerNotFound(timer_id)
            attempts = conn.execute(
                "SELECT attempt, started_at, duration_ms, status_code, error FROM courier_timer_attempts "
                "WHERE timer_id = %s ORDER BY attempt",
                (timer_id,),
            ).fetchall()
        return to_out(row, attempts)

    def list(self, status: Status | None, limit: int, cursor: str | None) -> tuple[list[TimerOut], str | None]:
        """Newest first; pass the returned cursor to get the next page."""
        sql, args = list_query(status, limit, cursor)
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return [to_out(r) for r in rows], next_cursor

    def cancel(self, timer_id: str) -> TimerOut:
        """Cancel a timer that has not fired; raise :class:`TimerNotFound` or :class:`TimerNotCancellable`."""
        with self._connect() as conn:
            row = conn.execute(
                f"UPDATE courier_timers SET status = 'cancelled', finished_at = now(), lease_owner = NULL, "
                f"lease_until = NULL WHERE id = %s AND status IN ('scheduled', 'retrying') RETURNING {COLUMNS}",
                (timer_id,),
            ).fetchone()
        if row is not None:
            return to_out(row)
        current = self.get(timer_id)
        raise TimerNotCancellable(current)
