"""Waiting for many timers' final status on one connection: one :class:`DeliveryWatch` per event loop.

Every :class:`~courier.timers.trigger.TimerDeliveredTrigger` of a triggerer runs on that triggerer's one
event loop; they all wait through the same watch, which holds **one** database connection while anything
waits (none when nothing does) and reads the status of every awaited timer in **one** query per interval
(``id = ANY(…)``). So 1,000 tasks waiting for delivery cost one connection and one query a second per
triggerer, not 1,000 connections each polling every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

import psycopg

from courier.db.hook import CourierDbHook
from courier.timers.rules import FINAL
from courier.timers.store.dispatch import statuses_of

log = logging.getLogger(__name__)

MISSING = "missing"
"""What :meth:`DeliveryWatch.wait` answers for a timer that does not exist."""
FINAL_NAMES = frozenset(str(s) for s in FINAL)
MIN_INTERVAL = 0.1


class DeliveryWatch:
    """Answers :meth:`wait` for any number of timers, polling them together on one connection.

    :param db: the Courier database (a fresh :class:`CourierDbHook` by default).
    :param interval: seconds between polls (the smallest a waiter asked for, at least :data:`MIN_INTERVAL`).
    """

    def __init__(self, db: CourierDbHook | None = None, interval: float = 1.0) -> None:
        self.db = db or CourierDbHook()
        self.interval = interval
        self._waiters: dict[str, set[asyncio.Future[tuple[str, str | None]]]] = {}
        self._intervals: list[float] = []
        self._poller: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self.polls = 0
        self.connections = 0  # opened so far (tests and logs)

    @property
    def waiting(self) -> int:
        return sum(len(f) for f in self._waiters.values())

    async def wait(self, timer_id: str, interval: float | None = None) -> tuple[str, str | None]:
        """Return ``(final status, last error)`` of ``timer_id`` once it is final, or ``("missing", None)``."""
        future: asyncio.Future[tuple[str, str | None]] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(timer_id, set()).add(future)
        asked = max(MIN_INTERVAL, interval if interval is not None else self.interval)
        self._intervals.append(asked)
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll(), name="courier-delivery-watch")
        self._wake.set()  # a new waiter is read at once, not after the current sleep
        try:
            return await future
        finally:
            self._intervals.remove(asked)
            futures = self._waiters.get(timer_id)
            if futures is not None:
                futures.discard(future)
                if not futures:
                    del self._waiters[timer_id]

    async def _poll(self) -> None:
        conn: psycopg.AsyncConnection[Any] | None = None
        try:
            while True:
                if not self._waiters:
                    self._poller = None  # no await since the check: a new waiter starts a new poller
                    return
                self._wake.clear()
                ids = sorted(self._waiters)
                try:
                    if conn is None or conn.closed:
                        conn = await self.db.aget_conn()
                        self.connections += 1
                    rows = await statuses_of(conn, ids)
                except (psycopg.OperationalError, OSError) as exc:
                    log.warning("Courier database unreachable (%s); retrying", exc)
                    if conn is not None:
                        await conn.close()
                    conn = None
                    await self._sleep(max(self.interval, 2.0))
                    continue
                self.polls += 1
                for timer_id in ids:
                    row = rows.get(timer_id)
                    if row is None:
                        self._answer(timer_id, (MISSING, None))
                    elif row[0] in FINAL_NAMES:
                        self._answer(timer_id, row)
                await self._sleep(min(self._intervals, default=self.interval))
        except BaseException:
            self._poller = None
            raise
        finally:
            if conn is not None:
                await conn.close()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _answer(self, timer_id: str, answer: tuple[str, str | None]) -> None:
        for future in self._waiters.get(timer_id, ()):
            if not future.done():
                future.set_result(answer)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeliveryWatch] = weakref.WeakKeyDictionary()


def watch() -> DeliveryWatch:
    """The running event loop's watch (one per loop: a connection and its futures belong to one loop)."""
    loop = asyncio.get_running_loop()
    found = _WATCHES.get(loop)
    if found is None:
        found = _WATCHES[loop] = DeliveryWatch()
    return found
