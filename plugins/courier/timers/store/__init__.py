"""Timers in the Courier database: the one module that reads and writes the timers' tables.

:class:`TimerStore` (blocking psycopg) is what the API, the operators and the pages use; the dispatchers' side
(claim, mark, record, release, heartbeat: asynchronous, on the connections a
:class:`~courier.timers.dispatcher.Dispatcher` holds) is :mod:`courier.timers.store.dispatch`. Status rules come from
:mod:`courier.timers.rules`, written into the SQL at each call (:func:`one_of`).

Creating timers notifies the ``courier_timers`` channel so a dispatcher claims a timer due in the next
moment at once instead of at its next poll.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from courier import metrics
from courier.db import batches
from courier.db.hook import CourierDbHook, source
from courier.db.paging import decode_cursor, encode_cursor
from courier.timers import rules
from courier.timers.models import AttemptOut, NewTimer, TimerOut
from courier.timers.rules import Status
from courier.webhooks.events import Event
from courier.wire import KeyReused

CHANNEL = "courier_timers"
TABLE = "courier_timers"
"""The table retention names this store's timers by (``courier db clean --tables``)."""
SYSTEM = "courier"
"""The creator of timers made by Courier's own code without a more precise one (API callers are ``user:…``,
DAG tasks ``dag:<dag_id>``, job events ``courier-jobs``)."""
COLUMNS = (
    "id, url, status, fire_at, created_at, fired_at, finished_at, attempts, next_attempt_at, expire_at, "
    "idempotency_key, headers, payload, last_error"
)
_INSERT = f"""
INSERT INTO courier_timers (id, url, fire_at, next_attempt_at, payload, headers, idempotency_key, expire_at, created_by,
                            request_sha256)
VALUES (%(id)s, %(url)s, %(fire_at)s, %(fire_at)s, %(payload)s, %(headers)s, %(key)s, %(expire_at)s, %(by)s, %(sha)s)
ON CONFLICT (created_by, idempotency_key) DO NOTHING
RETURNING {COLUMNS}
"""
"""A key is unique per creator (migration 0012): another creator's key never stands in for this one."""


def list_query(
    status: Status | None, limit: int, cursor: str | None, visible_to: str | None = None
) -> tuple[str, list[Any]]:
    """One page of the listing (``limit + 1`` rows, to tell whether more follow): keyset on
    ``(created_at, id)``, so a page reads ``limit + 1`` index entries however many timers exist; only
    ``visible_to``'s timers unless it is None."""
    where: list[str] = []
    args: list[Any] = []
    if visible_to is not None:
        where.append("created_by = %s")
        args.append(visible_to)
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


def enqueue_events(events: Sequence[Event], conninfo: str | None, created_by: str) -> builtins.list[str]:
    """Queue webhook events (:mod:`courier.webhooks.events`, ``QUEUE``) as timers due now, in one
    transaction; return each one's timer id (the existing timer's for a key already queued)."""
    now = datetime.now(UTC)
    timers = [NewTimer(e.id, e.url, now, e.payload, {}, e.idempotency_key, None) for e in events]
    return [out.id for out, _ in TimerStore(conninfo).create(timers, created_by=created_by)]


class TimerNotFound(LookupError):
    pass


class TimerNotCancellable(RuntimeError):
    def __init__(self, timer: TimerOut) -> None:
        super().__init__(f"timer {timer.id} is {timer.status}; only a timer not final yet can be cancelled")
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
        next_attempt_at=row["next_attempt_at"] if row["status"] in rules.OPEN else None,
        expire_at=row["expire_at"],
        idempotency_key=row["idempotency_key"],
        header_names=sorted(row["headers"] or {}),
        payload=row["payload"],
        last_error=row["last_error"],
        attempt_log=None if attempts is None else [AttemptOut(**a) for a in attempts],
    )


def one_of(statuses: Iterable[Status]) -> sql.Composed:
    """``'a', 'b'`` for ``status IN ({…})``: a rule's statuses as literals (not bind parameters), so a query's
    plan, prepared or not, still matches the partial index ``courier_timers_due`` (``WHERE status IN …``)."""
    return sql.SQL(", ").join(sql.Literal(str(s)) for s in statuses)


def _query(template: str, **statuses: Iterable[Status]) -> sql.Composed:
    return sql.SQL(template).format(**{name: one_of(which) for name, which in statuses.items()})  # type: ignore[arg-type]


class TimerStore:
    """Create, read, list and cancel timers; the figures the pages show. Each call is one transaction on a
    connection from the Courier DB hook (see docs/ARCHITECTURE.md, "One way to connect").

    :param db: the hook to connect through, or a libpq URL (default: a plain hook).
    """

    def __init__(self, db: CourierDbHook | str | None = None) -> None:
        self.db = source(db)

    def _connect(self) -> contextlib.AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        return self.db.connection(dict_row)

    def create(self, timers: list[NewTimer], created_by: str = SYSTEM) -> list[tuple[TimerOut, bool]]:
        """Insert all of ``timers`` in one transaction, created by ``created_by``; return each with ``True`` if new.

        A timer whose ``idempotency_key`` ``created_by`` used already is not inserted: the existing one is
        returned when it was made by the same request (same ``request_sha256``); otherwise nothing at all is
        stored and :class:`~courier.wire.KeyReused` names every such timer. Keys are scoped to their creator:
        another creator's key is no conflict.
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
                "sha": t.request_sha256,
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
                cur.execute(
                    f"SELECT {COLUMNS}, request_sha256 FROM courier_timers"
                    " WHERE created_by = %s AND idempotency_key = ANY(%s)",
                    (created_by, missing),
                )
                existing = {r["idempotency_key"]: r for r in cur.fetchall()}
                reused = [
                    (i, t.idempotency_key)
                    for i, t in enumerate(timers)
                    if t.id not in inserted and existing[t.idempotency_key]["request_sha256"] != t.request_sha256  # type: ignore[index]
                ]
                if reused:  # raised inside the transaction: nothing of this call is stored
                    raise KeyReused([i for i, _ in reused], [str(key) for _, key in reused])
            for t in timers:
                if t.id in inserted:
                    results.append((to_out(inserted[t.id]), True))
                else:
                    results.append((to_out(existing[t.idempotency_key]), False))  # type: ignore[index]
            if inserted:
                earliest = min(r["fire_at"] for r in inserted.values())
                cur.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(earliest.timestamp())))
        metrics.timers_created(len(inserted))  # committed: the transaction ended with the block
        return results

    def get(self, timer_id: str, visible_to: str | None = None) -> TimerOut:
        """The timer with its attempts; :class:`TimerNotFound` if there is none, or (``visible_to`` not None)
        if ``visible_to`` did not create it."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM courier_timers WHERE id = %s AND (%s::text IS NULL OR created_by = %s)",
                (timer_id, visible_to, visible_to),
            ).fetchone()
            if row is None:
                raise TimerNotFound(timer_id)
            attempts = conn.execute(
                "SELECT attempt, started_at, duration_ms, status_code, error FROM courier_timer_attempts "
                "WHERE timer_id = %s ORDER BY attempt",
                (timer_id,),
            ).fetchall()
        return to_out(row, attempts)

    def list(
        self, status: Status | None, limit: int, cursor: str | None, visible_to: str | None = None
    ) -> tuple[list[TimerOut], str | None]:
        """Newest first (only ``visible_to``'s timers unless None); pass the returned cursor for the next page."""
        sql, args = list_query(status, limit, cursor, visible_to)
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1]["created_at"], rows[-1]["id"]) if more else None
        return [to_out(r) for r in rows], next_cursor

    def cancel(self, timer_id: str, visible_to: str | None = None) -> TimerOut:
        """Cancel a timer that is not final (:data:`~courier.timers.rules.CANCELLABLE`, ``firing`` included: a
        send on the wire may still arrive, none follows, and the lease is dropped so the sending dispatcher's
        outcome does not overwrite the cancel); raise :class:`TimerNotFound` (also for a timer ``visible_to``,
        when not None, did not create) or :class:`TimerNotCancellable`."""
        cancel = _query(
            "UPDATE courier_timers SET status = 'cancelled', finished_at = now(), lease_owner = NULL, "
            "lease_until = NULL WHERE id = %s AND (%s::text IS NULL OR created_by = %s) "
            f"AND status IN ({{cancellable}}) RETURNING {COLUMNS}",
            cancellable=rules.CANCELLABLE,
        )
        with self._connect() as conn:
            row = conn.execute(cancel, (timer_id, visible_to, visible_to)).fetchone()
        if row is not None:
            return to_out(row)
        current = self.get(timer_id, visible_to)
        raise TimerNotCancellable(current)

    # ------------------------------------------------------------------ figures for the pages (courier.ui.insights)
    def figures(
        self, window_minutes: int, edges: builtins.list[float], visible_to: str | None = None
    ) -> dict[str, Any]:
        """Timers per status, unfired timers more than a second overdue, and of the fires in the last
        ``window_minutes``: the count per lateness bucket (``width_bucket`` over ``edges``, ms), the count, p50,
        p95, p99 and max lateness (counts and lateness of every timer: figures, no timer's content); the timers
        that failed or expired in the last 24 hours (only ``visible_to``'s, unless None); the database's now."""
        window = "fired_at > now() - make_interval(mins => %(window)s)"
        lateness = "extract(epoch FROM fired_at - fire_at) * 1000"
        args = {"window": window_minutes, "edges": edges}
        late = _query(
            "SELECT count(*) AS n FROM courier_timers WHERE status IN ({unfired})"
            " AND next_attempt_at < now() - interval '1 second'",
            unfired=rules.UNFIRED,
        )
        problems = _query(
            f"SELECT {COLUMNS} FROM courier_timers WHERE status IN ({{problems}})"
            " AND finished_at > now() - interval '24 hours' AND (%(who)s::text IS NULL OR created_by = %(who)s)"
            " ORDER BY finished_at DESC LIMIT 10",
            problems=rules.PROBLEMS,
        )
        with self._connect() as conn:
            counts = {
                str(r["status"]): int(r["n"])
                for r in conn.execute("SELECT status, count(*) AS n FROM courier_timers GROUP BY status")
            }
            late_now = conn.execute(late).fetchone()
            bins = conn.execute(
                f"SELECT width_bucket({lateness}, %(edges)s::float8[]) AS b, count(*) AS n FROM courier_timers"
                f" WHERE fired_at IS NOT NULL AND {window} GROUP BY b",
                args,
            ).fetchall()
            fired = conn.execute(
                "SELECT count(*) AS n, percentile_cont(array[0.5, 0.95, 0.99]) WITHIN GROUP"
                f" (ORDER BY {lateness}) AS q, max({lateness}) AS worst, now() AS now FROM courier_timers"
                f" WHERE fired_at IS NOT NULL AND {window}",
                args,
            ).fetchone()
            failed = conn.execute(problems, {"who": visible_to}).fetchall()
        assert late_now is not None and fired is not None
        return {
            "counts": counts,
            "late_now": int(late_now["n"]),
            "bins": {int(r["b"]): int(r["n"]) for r in bins},
            "fired": int(fired["n"]),
            "percentiles": list(fired["q"] or [None, None, None]),
            "max": fired["worst"],
            "problems": [to_out(r) for r in failed],
            "now": fired["now"],
        }

    # ------------------------------------------------------------------ dispatchers (health)
    def dispatchers(self) -> builtins.list[dict[str, Any]]:
        """Every dispatcher with a row: name, seconds since its last heartbeat (negative: lease still running
        that long), seconds it has been up. What ``/courier/health`` reports."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT name, extract(epoch FROM now() - alive_until)::float8 AS overdue,"
                " extract(epoch FROM now() - started_at)::float8 AS up FROM courier_timer_dispatchers ORDER BY name"
            ).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ retention
    def count_finished(self, before: datetime) -> dict[str, int]:
        """What :meth:`delete_finished` would delete: final timers finished before ``before``, and their attempts."""
        return batches.count(self.db, _query(_FINISHED_COUNT, final=rules.FINAL).as_string(None), {"before": before})

    def delete_finished(self, before: datetime, batch: int, pause: float = 0.0) -> Iterator[dict[str, int]]:
        """Delete final timers finished before ``before`` with their attempts, ``batch`` timers per transaction
        (never an open one: the statuses are :data:`rules.FINAL`); yield each batch's counts."""
        statement = _query(_FINISHED_DELETE, final=rules.FINAL).as_string(None)
        yield from batches.delete_in_batches(
            self.db, statement, {"before": before}, primary=TABLE, batch=batch, pause=pause
        )


# Retention: the partial index courier_timers_finished (0013) finds final timers by finish time, oldest first; a
# batch (db/batches.py) locks them, deletes their attempts and them in one statement.
_FINISHED_COUNT, _FINISHED_DELETE = batches.statements(
    "courier_timers",
    "id",
    "status IN ({final}) AND finished_at < %(before)s",
    {"courier_timer_attempts": "timer_id"},
    order="finished_at",
)
