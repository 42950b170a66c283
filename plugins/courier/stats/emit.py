"""Courier's own work as stats: timer lateness per delivery, report wait time, and the like.

Writing a stat must never break the work it describes, so everything here is best effort: events are
checked like any posted event, written with the same COPY path as ``POST /courier/stats``, and any error
(database down, bad value) is logged once per minute and dropped. :class:`Recorder` buffers events for hot
paths (the timer dispatcher flushes it at most once a second, off the event loop); :func:`record` writes a
few events at once for one-off work (a collected report).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import psycopg

from courier.db.hook import CourierDbHook, source
from courier.stats.ingest import EventIn, Limits, check, decode

log = logging.getLogger(__name__)

_last_warning = 0.0


def _warn(exc: BaseException) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        log.warning("Courier stats not recorded (the work itself is unaffected): %s", exc)


def event(name: str, value: float, type: str = "timer", tags: dict[str, str] | None = None) -> EventIn:
    """One of Courier's own events, timestamped now (the struct a posted event is parsed into)."""
    raw_tags = msgspec.Raw(msgspec.json.encode(tags or {}))
    return EventIn(name=name, value=float(value), type=type, tags=raw_tags, ts=time.time())


def _write(events: list[EventIn], db: CourierDbHook | str | None, conn: psycopg.Connection[Any] | None = None) -> int:
    from courier.stats.store import StatsStore

    posted = decode(encode(events), ndjson=False)  # exactly what a client posting them would have checked
    batch = check(posted, datetime.now(UTC), Limits(max_events=max(len(events), 1)))
    return StatsStore(db).ingest(batch, conn=conn)[0]


def record(
    events: list[EventIn], db: CourierDbHook | str | None = None, conn: psycopg.Connection[Any] | None = None
) -> int:
    """Write ``events`` now (on ``conn`` when given, an autocommit connection the caller holds); return how many
    were stored (0 on any error, which is logged, never raised)."""
    if not events:
        return 0
    try:
        return _write(events, db, conn)
    except Exception as exc:  # a stat must never fail the work it measures
        _warn(exc)
        return 0


class Recorder:
    """A thread-safe buffer of events, written in one COPY per :meth:`flush`.

    :param db: the Courier DB hook, or a libpq URL (default: a plain hook on the configured database).
    :param max_buffer: events kept at most between flushes; more are dropped (and counted in ``dropped``).
    :param hold: keep one connection open from flush to flush (a hot path flushing every second: no new
        PostgreSQL backend per flush), reopened after an error; :meth:`close` closes it.
    """

    def __init__(self, db: CourierDbHook | str | None = None, max_buffer: int = 50_000, hold: bool = False) -> None:
        self.db = db
        self.max_buffer = max_buffer
        self.hold = hold
        self.dropped = 0
        self._events: list[EventIn] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def add(self, name: str, value: float, type: str = "timer", tags: dict[str, str] | None = None) -> None:
        with self._lock:
            if len(self._events) >= self.max_buffer:
                self.dropped += 1
                return
            self._events.append(event(name, value, type, tags))

    def __len__(self) -> int:
        return len(self._events)

    def flush(self) -> int:
        """Write the buffered events (in chunks of the batch limit); never raises."""
        with self._lock:
            events, self._events = self._events, []
        written = 0
        with self._flushing:
            conn = self._held() if events else None
            for start in range(0, len(events), Limits().max_events):
                written += record(events[start : start + Limits().max_events], self.db, conn)
        return written

    def _held(self) -> psycopg.Connection[Any] | None:
        if not self.hold:
            return None
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                if self._conn is not None:
                    self._conn.close()
                self._conn = source(self.db).get_conn(autocommit=True)
            return self._conn
        except Exception as exc:  # no database now: the events of this flush are dropped, as on any error
            _warn(exc)
            return None

    def close(self) -> None:
        """Close the held connection (if any)."""
        with self._flushing:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def encode(events: list[EventIn]) -> bytes:
    """The events as a ``POST /courier/stats`` body (for clients and tests)."""
    return msgspec.json.encode(events)


__all__ = ["Recorder", "encode", "event", "record"]
