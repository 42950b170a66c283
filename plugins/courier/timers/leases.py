"""A dispatcher's hold on its timers: its heartbeat (liveness, in a thread of its own) and how many timers it
may hold at once (:class:`Pace`: what it can send before a claim's lease runs out).

Both are parts of :class:`~courier.timers.dispatcher.Dispatcher`; the SQL is :mod:`courier.timers.store`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from courier import metrics
from courier.db.hook import CourierDbHook
from courier.timers.settings import DispatcherSettings
from courier.timers.store import dispatch as queue

log = logging.getLogger(__name__)

SHARE_OF_LEASE = 0.25
"""A dispatcher holds at most what it can send in this share of a claim's lease (the rest is the margin for
a receiver, a database or a machine slower than measured: a fourfold slowdown still sends every
claim within its lease): a backlog it holds never outlives the lease, and what it cannot send
soon stays free in the database for another dispatcher to claim."""
MARK_AHEAD = 0.5
"""Seconds of sends marked ``firing`` ahead of the senders (at least one per sender): a timer is marked just
before it is sent, so a backlog waits as a claim, never as a firing whose lease could run out."""
WINDOW = 0.25
"""Seconds over which the send rate is measured."""


class Pace:
    """The measured send rate of one dispatcher and the counts it may hold from it.

    The rate is sends completed per second over :data:`WINDOW`: while the senders had a queue the whole
    window (they were the limit) the estimate follows it both ways; otherwise it only rises (an idle spell
    says nothing about capacity). Before anything was sent it is 0 and a dispatcher holds one timer per
    sender (a slow start, as TCP's: the first window measures it).
    """

    def __init__(self, settings: DispatcherSettings) -> None:
        self.settings = settings
        self.rate = 0.0
        self._done = 0
        self._since = time.monotonic()
        self._queued_since: bool = False

    def sent(self) -> None:
        self._done += 1

    def sample(self, queued: bool) -> None:
        """Close the window if it is :data:`WINDOW` old; ``queued``: timers are due and not being sent now."""
        now = time.monotonic()
        elapsed = now - self._since
        if elapsed < WINDOW:
            return
        measured = self._done / elapsed
        if self._queued_since and queued:
            self.rate = measured if self.rate == 0 else 0.5 * self.rate + 0.5 * measured
        elif measured > self.rate:
            self.rate = measured
        self._done = 0
        self._since = now
        self._queued_since = queued

    @property
    def held_cap(self) -> int:
        """Timers this dispatcher may hold (claimed, not yet recorded): what it sends in
        :data:`SHARE_OF_LEASE` of a claim's lease, at least one per sender, at most ``max_held``."""
        s = self.settings
        return max(s.max_in_flight, min(s.max_held, int(self.rate * s.claim_lease * SHARE_OF_LEASE)))

    @property
    def marked_cap(self) -> int:
        """Timers marked ``firing`` and not yet sent at most: :data:`MARK_AHEAD` seconds of sends."""
        return max(self.settings.max_in_flight, min(self.held_cap, int(self.rate * MARK_AHEAD)))


class Heartbeat:
    """Renew a dispatcher's row in the dispatchers' table in a thread of its own (a blocking connection), so a
    stalled event loop is not mistaken for a death; pause renewing when the loop has not ticked for
    ``stall_limit`` seconds (a hung dispatcher gives its timers up). Report a first beat and dead peers to
    the loop.

    :param on_alive: called on the loop after each beat written.
    :param on_dead: called on the loop when another dispatcher's heartbeat ran out (its claims are free).
    """

    def __init__(
        self,
        db: CourierDbHook,
        name: str,
        settings: DispatcherSettings,
        on_alive: Callable[[], Any],
        on_dead: Callable[[], Any],
    ) -> None:
        self.db = db
        self.name = name
        self.settings = settings
        self.on_alive = on_alive
        self.on_dead = on_dead
        self.tick = time.monotonic()  # last sign of life of the event loop (written by the loop)
        self.beat_ok = time.monotonic()  # last heartbeat written (monotonic)
        self.lapsed_at = float("-inf")  # last moment the heartbeat row may have run out (monotonic)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def lapsed_since(self, marked_at: float) -> bool:
        """Whether the heartbeat may have run out since ``marked_at`` (monotonic), or is running out now."""
        return self.lapsed_at >= marked_at or time.monotonic() - self.beat_ok > self.settings.heartbeat_ttl

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, args=(loop,), name="courier-timers-heartbeat")
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 10)

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        s = self.settings
        conn: psycopg.Connection[Any] | None = None
        pause = 0.0
        mourned: set[str] = set()
        gauged = overdue_at = 0.0  # the platform's gauges: heartbeat age each second, overdue timers every 5 s
        try:
            while not self._stop.wait(pause):
                pause = s.heartbeat_interval
                if time.monotonic() - gauged >= 1.0:
                    gauged = time.monotonic()
                    metrics.dispatcher_heartbeat_age(self.name, gauged - self.beat_ok)
                if time.monotonic() - self.beat_ok > s.heartbeat_ttl:
                    self.lapsed_at = time.monotonic()  # firings marked before now may have been taken over
                stalled = time.monotonic() - self.tick
                if stalled > s.stall_limit:
                    log.warning("Timer dispatcher %s: event loop stuck for %.1fs; heartbeat paused", self.name, stalled)
                    continue
                try:
                    if conn is None or conn.closed:
                        conn = self.db.get_conn(autocommit=True)
                        conn.execute("SET synchronous_commit = off")  # a beat need not wait for an fsync
                    beat_at = time.monotonic()
                    queue.heartbeat(conn, self.name, s.heartbeat_ttl)
                    self.beat_ok = beat_at
                    _call_soon(loop, self.on_alive)
                    dead = queue.dead_dispatchers(conn, self.name)
                    if time.monotonic() - overdue_at >= 5.0:
                        overdue_at = time.monotonic()
                        metrics.timer_overdue(queue.overdue_count(conn))
                except (psycopg.Error, OSError) as exc:
                    log.warning("Timer dispatcher %s: heartbeat lost the database (%s); retrying", self.name, exc)
                    if conn is not None:
                        conn.close()
                    conn = None
                    pause = 0.5
                    continue
                if dead - mourned:
                    log.warning(
                        "Timer dispatcher %s: taking over from %s", self.name, ", ".join(sorted(dead - mourned))
                    )
                    _call_soon(loop, self.on_dead)  # their claims are free now
                mourned = dead
        finally:
            if conn is not None:
                conn.close()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while the thread was talking to the database
        loop.call_soon_threadsafe(callback)
