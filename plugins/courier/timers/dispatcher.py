"""The timer dispatcher: claim due timers from PostgreSQL, fire each at its instant, record the outcome.

One :class:`Dispatcher` is a plain asyncio object; :class:`~courier.timers.trigger.TimerDispatchTrigger`
runs it inside Airflow's triggerer, tests and benchmarks run it directly. Any number of dispatchers
share one database; the SQL of every step below is in :mod:`courier.timers.store`, the tables' owner:

* **claim** - every ``poll_interval`` seconds, and at once when the API announces a timer due soon
  (``LISTEN`` on the store's channel), take open timers due within ``horizon`` seconds with
  ``FOR UPDATE SKIP LOCKED`` and a lease (``lease_owner``, ``lease_until``), and keep them in a heap;
* **mark** - ``lead`` seconds before a timer is due, set it ``firing`` and count the attempt, only if this
  dispatcher still holds the lease and the timer is still open (a cancel in between wins);
* **send** - sleep to the exact instant and POST ``{id, scheduled_for, fired_at, payload}`` to
  ``url + id`` with Standard Webhooks headers (``webhook-id`` is the timer id on every attempt; job events
  signed with the job-event key). The URL policy is applied to ``url + id`` and, at connect time, by the
  client's resolver (:class:`~courier.webhooks.policy.CheckedResolver`) to the addresses connected to;
  redirects are not followed, at most 16 KiB of an answer is read, never decompressed (:mod:`courier.webhooks.send`);
* **record** - write the outcome and the attempt in batches, release the lease;
* **heartbeat** - every ``heartbeat_interval`` seconds renew this dispatcher's row in
  the dispatchers' table (``alive_until = now() + heartbeat_ttl``), and wake the claim loop when
  another dispatcher's row has run out. It runs in a thread of its own with a blocking connection, so a
  stalled event loop (the triggerer warns about 0.5 s stalls under load) is not mistaken for a death; it
  stops renewing only when the loop has not ticked for ``stall_limit`` seconds (a hung dispatcher gives
  its timers up).

A dispatcher that stops cleanly hands its unfired claims back at once. One that dies stops renewing its
heartbeat: once its row is ``heartbeat_ttl`` old (0.6 s by default) a timer it claimed but had not marked
is free, whatever its ``lease_until`` says, and the next claim of another dispatcher (woken at once) takes
it. A timer it had marked ``firing`` (a send may be on the wire) waits ``firing_grace`` (5 s) more, so a
live dispatcher stalled for less than that is never doubled by a takeover; one that finds its heartbeat
ran out after it marked a timer does not send it. Marking ``firing`` requires
both the lease and a live heartbeat row, so a dispatcher cut off from the database cannot mark a timer
another one took over: the firing is committed once, the HTTP call is at-least-once (a re-send carries
the same ``webhook-id``), and the receiver can drop a repeat. ``lease_until`` stays as the backstop
(``claim_lease`` after the due time, ``webhook_timeout`` + 5 s after a send began).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp.abc import AbstractResolver

from courier import metrics
from courier.db.hook import CourierDbHook, source
from courier.stats.emit import Recorder
from courier.timers import store as queue
from courier.timers.models import Claimed, Delivery
from courier.timers.rules import Status, decide
from courier.timers.settings import DispatcherSettings
from courier.webhooks import send, signing

__all__ = ["Dispatcher", "DispatcherSettings", "claim_statement"]


def claim_statement(settings: DispatcherSettings, owner: str, limit: int) -> tuple[str, dict[str, Any]]:
    """The claim query and its parameters exactly as this dispatcher's claim loop runs them (benchmarks and
    tests ``EXPLAIN`` it)."""
    return queue.claim_statement(
        owner, horizon=settings.horizon, limit=limit, lease=settings.claim_lease, grace=settings.firing_grace
    )


log = logging.getLogger(__name__)


class Dispatcher:
    """Fire due timers from the Courier database until :meth:`stop` or cancellation.

    :param db: the Courier DB hook it opens its connections through (it holds them: one per loop, one for
        the heartbeat thread; never pooled), or a libpq URL.
    :param settings: signing secret, URL policy, retry schedule and pacing.
    :param name: lease owner name (default host:pid:random).
    :param lookup: the name lookup under the connect-time URL policy (default aiohttp's threaded resolver).
    """

    def __init__(
        self,
        db: CourierDbHook | str,
        settings: DispatcherSettings,
        name: str | None = None,
        lookup: AbstractResolver | None = None,
    ) -> None:
        self.db = source(db)
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stats = {"claimed": 0, "sent": 0, "delivered": 0, "retrying": 0, "failed": 0, "expired": 0, "lost": 0}
        self._key = signing.secret_key(settings.secret)
        self._job_key = signing.signing_key(self._key, signing.JOB_EVENT_ID_PREFIX)
        self._lookup = lookup
        self._heap: list[Claimed] = []
        self._held: set[str] = set()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: asyncio.Queue[Delivery] = asyncio.Queue()
        self._unrecorded: list[Delivery] = []
        self._own_stats = Recorder(self.db)  # lateness per delivery, into Courier's stats (best effort)
        self._own_stats_at = 0.0
        self._own_stats_task: asyncio.Task[int] | None = None
        self._meter = metrics.TimerMeter()  # the platform's metrics (courier.metrics), sent once a second
        self._claim_now = asyncio.Event()
        self._heap_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)
        self._alive = asyncio.Event()  # set once the first heartbeat is written: claims wait for it
        self._tick = time.monotonic()  # last sign of life of the event loop, read by the heartbeat thread
        self._beat_stop = threading.Event()
        self._beat_ok = time.monotonic()  # last heartbeat written (monotonic)
        self._check_lock = asyncio.Lock()
        self._check_conn: psycopg.AsyncConnection[Any] | None = None
        self._lapsed_at = float("-inf")  # last moment the heartbeat row may have run out (monotonic)

    # ------------------------------------------------------------------ life cycle
    def stop(self) -> None:
        """Ask :meth:`run` to hand back its claims, finish in-flight sends and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Dispatch until :meth:`stop` is called or the task is cancelled (both end cleanly)."""
        s = self.settings
        log.info("Timer dispatcher %s starting (horizon %.1fs, poll %.2fs)", self.name, s.horizon, s.poll_interval)
        # aiohttp, not httpx, on this one hot path: measured on the 2-core development machine against the
        # same loopback receiver, httpx's AsyncClient sends ~700 requests/s, aiohttp ~12,000 (docs/timers.md).
        # the URL policy at connect time, answers bounded and never decompressed (courier.webhooks.send)
        async with send.session(
            timeout=s.timeout, allow_private=s.allow_private, max_in_flight=s.max_in_flight, lookup=self._lookup
        ) as session:
            self._session = session
            beat = threading.Thread(
                target=self._heartbeat_thread, args=(asyncio.get_running_loop(),), name="courier-timers-heartbeat"
            )
            self._beat_stop.clear()
            beat.start()
            loops = [
                asyncio.create_task(self._tick_loop(), name="courier-timers-tick"),
                asyncio.create_task(self._forever("claim", self._claim_loop), name="courier-timers-claim"),
                asyncio.create_task(self._forever("listen", self._listen_loop), name="courier-timers-listen"),
                asyncio.create_task(self._forever("fire", self._fire_loop), name="courier-timers-fire"),
            ]
            recorder = asyncio.create_task(self._forever("record", self._record_loop), name="courier-timers-record")
            try:
                await self._stopping.wait()
            finally:
                await asyncio.shield(self._shutdown(loops, recorder, beat))
        log.info("Timer dispatcher %s stopped: %s", self.name, self.stats)

    async def _shutdown(
        self, loops: list[asyncio.Task[None]], recorder: asyncio.Task[None], beat: threading.Thread
    ) -> None:
        # loops[0] ticks for the heartbeat thread: both run until in-flight sends are recorded
        heartbeat, others = loops[0], loops[1:]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)
        unfired = [h.id for h in self._heap]
        self._heap.clear()
        if unfired:
            with contextlib.suppress(psycopg.Error, OSError):
                async with await self._connect() as conn:
                    await queue.release(conn, self.name, unfired)
            log.info("Handed back %d claimed timer(s)", len(unfired))
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=min(self.settings.timeout, 5.0))
        for task in self._in_flight:
            task.cancel()  # its claim is freed with the heartbeat row and another dispatcher sends it again
        deadline = time.monotonic() + 5
        while (self._unrecorded or not self._outcomes.empty()) and time.monotonic() < deadline and not recorder.done():
            await asyncio.sleep(0.01)
        recorder.cancel()
        heartbeat.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(self._own_stats.flush), timeout=5)
        self._meter.flush(force=True)
        await asyncio.gather(recorder, heartbeat, return_exceptions=True)
        self._beat_stop.set()
        await asyncio.to_thread(beat.join, 10)
        if self._check_conn is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await self._check_conn.close()
        with contextlib.suppress(psycopg.Error, OSError):
            async with await self._connect() as conn:
                await queue.retire(conn, self.name)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await self.db.aget_conn(autocommit=True)

    async def _forever(self, what: str, loop: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]]) -> None:
        """Run ``loop`` with its own connection; reconnect after a database error (outage, restart)."""
        backoff = 0.2
        while True:
            try:
                async with await self._connect() as conn:
                    backoff = 0.2
                    await loop(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("Timer dispatcher %s: %s loop lost the database (%s); retrying", self.name, what, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    # ------------------------------------------------------------------ heartbeat
    async def _tick_loop(self) -> None:
        while True:
            self._tick = time.monotonic()
            self._meter.flush()  # the platform's metrics, at most once a second, whether timers fire or not
            await asyncio.sleep(0.1)

    def _heartbeat_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Renew this dispatcher's heartbeat row and bury dead ones, until :attr:`_beat_stop` (own thread)."""
        s = self.settings
        conn: psycopg.Connection[Any] | None = None
        pause = 0.0
        mourned: set[str] = set()
        gauged = overdue_at = 0.0  # the platform's gauges: heartbeat age each second, overdue timers every 5 s
        try:
            while not self._beat_stop.wait(pause):
                pause = s.heartbeat_interval
                if time.monotonic() - gauged >= 1.0:
                    gauged = time.monotonic()
                    metrics.dispatcher_heartbeat_age(self.name, gauged - self._beat_ok)
                if time.monotonic() - self._beat_ok > s.heartbeat_ttl:
                    self._lapsed_at = time.monotonic()  # firings marked before now may have been taken over
                stalled = time.monotonic() - self._tick
                if stalled > s.stall_limit:
                    log.warning("Timer dispatcher %s: event loop stuck for %.1fs; heartbeat paused", self.name, stalled)
                    continue
                try:
                    if conn is None or conn.closed:
                        conn = self.db.get_conn(autocommit=True)
                        conn.execute("SET synchronous_commit = off")  # a beat need not wait for an fsync
                    beat_at = time.monotonic()
                    queue.heartbeat(conn, self.name, s.heartbeat_ttl)
                    self._beat_ok = beat_at
                    _call_soon(loop, self._alive.set)
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
                    _call_soon(loop, self._claim_now.set)  # their claims are free now
                mourned = dead
        finally:
            if conn is not None:
                conn.close()

    # ------------------------------------------------------------------ claim
    async def _claim_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        s = self.settings
        await self._alive.wait()  # a claim without a heartbeat row would be free for others at once
        while True:
            self._claim_now.clear()
            room = min(s.batch, s.max_held - len(self._held))
            rows = []
            if room > 0:
                rows = await queue.claim(
                    conn, self.name, horizon=s.horizon, limit=room, lease=s.claim_lease, grace=s.firing_grace
                )
            for claimed in rows:
                if claimed.id in self._held:  # our own lease expired and we took it again
                    continue
                self._held.add(claimed.id)
                heapq.heappush(self._heap, claimed)
            if rows:
                self.stats["claimed"] += len(rows)
                self._heap_changed.set()
            if len(rows) == room and room > 0:
                continue  # more are due: claim again at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_now.wait(), s.poll_interval)

    async def _listen_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        async for announced in queue.announcements(conn):
            try:
                due = float(announced)
            except ValueError:
                due = 0.0
            if due <= time.time() + self.settings.horizon:
                self._claim_now.set()

    # ------------------------------------------------------------------ fire
    async def _fire_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        s = self.settings
        while True:
            self._heap_changed.clear()
            if not self._heap:
                await self._heap_changed.wait()
                continue
            wait = self._heap[0].due - s.lead - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._heap_changed.wait(), wait)
                continue
            horizon = time.time() + s.lead
            batch: list[Claimed] = []
            while self._heap and self._heap[0].due <= horizon and len(batch) < s.batch:
                batch.append(heapq.heappop(self._heap))
            now = datetime.now(UTC)
            expired = [h for h in batch if h.expire_at is not None and h.expire_at < now]
            for held in expired:
                self._finish(Delivery(held, Status.EXPIRED, error="expired before it could be delivered"))
            live = {h.id: h for h in batch if h.expire_at is None or h.expire_at >= now}
            if not live:
                continue
            try:
                marked = await queue.mark_firing(conn, self.name, list(live), s.timeout + 5)
            except BaseException:
                for held in live.values():  # not marked: keep them, the reconnected loop retries
                    heapq.heappush(self._heap, held)
                raise
            for timer_id, attempt in sorted(marked, key=lambda row: live[row[0]].due):  # oldest first, whatever
                # order the UPDATE returned them in
                held = live.pop(timer_id)
                held.attempt = attempt
                held.marked_at = time.monotonic()
                task = asyncio.create_task(self._deliver(held))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            for timer_id in live:  # cancelled, or taken over by another dispatcher, since the claim
                self._held.discard(timer_id)
                self.stats["lost"] += 1

    async def _deliver(self, held: Claimed) -> None:
        delay = held.due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        async with self._slots:
            lapsed = self._lapsed_at >= held.marked_at or time.monotonic() - self._beat_ok > self.settings.heartbeat_ttl
            if lapsed and not await self._still_mine(held.id):
                # our heartbeat ran out after the firing was committed (a stall, an outage) and another
                # dispatcher took the timer over: it sends it, not us
                self._held.discard(held.id)
                self.stats["lost"] += 1
                return
            target = held.url + held.id  # the URL checked is the URL requested
            started = datetime.now(UTC)
            body = json.dumps(
                {
                    "id": held.id,
                    "scheduled_for": held.fire_at.isoformat(),
                    "fired_at": started.isoformat(),
                    "payload": held.payload,
                },
                separators=(",", ":"),
            ).encode()
            key = self._job_key if held.id.startswith(signing.JOB_EVENT_ID_PREFIX) else self._key
            headers = {**held.headers, **signing.headers(key, held.id, body, int(started.timestamp()))}
            s = self.settings
            answer = await send.send(
                self._session,
                target,
                body,
                headers,
                allow_private=s.allow_private,
                allowed_hosts=s.allowed_hosts,
                timeout=s.timeout,
            )
            if answer.refused:
                self._finish(Delivery(held, Status.FAILED, started, error=answer.error))
                return
            self.stats["sent"] += 1
            decision = decide(answer.code, held.attempt, s.retry_schedule, answer.retry_after, answer.error)
            next_at = None
            status = decision.status
            if decision.delay is not None:
                next_at = datetime.fromtimestamp(time.time() + decision.delay, UTC)
                if held.expire_at is not None and next_at > held.expire_at:
                    status = Status.EXPIRED
            self._finish(Delivery(held, status, started, answer.duration_ms, answer.code, decision.reason, next_at))

    async def _still_mine(self, timer_id: str) -> bool:
        """Return whether this dispatcher still holds ``timer_id`` (asked only after a heartbeat lapse, one
        query at a time on one connection)."""
        async with self._check_lock:
            try:
                if self._check_conn is None or self._check_conn.closed:
                    self._check_conn = await self._connect()
                owner = await queue.lease_owner(self._check_conn, timer_id)
            except (psycopg.Error, OSError):
                return False  # cannot tell: the lease decides who sends it
        return owner == self.name

    def _finish(self, outcome: Delivery) -> None:
        self._held.discard(outcome.timer.id)
        self.stats[str(outcome.status)] = self.stats.get(str(outcome.status), 0) + 1
        self._outcomes.put_nowait(outcome)

    # ------------------------------------------------------------------ record
    def _record_own_stats(self, outcomes: list[Delivery]) -> None:
        """Each attempt's lateness (sent - due, ms) as a Courier stat: buffered, flushed off the loop at most
        once a second; a stats failure is logged by the recorder and never touches delivery."""
        try:
            for o in outcomes:
                lateness = None
                if o.started is not None:
                    lateness = (o.started.timestamp() - o.timer.due) * 1000
                    self._own_stats.add("courier.timers.lateness_ms", lateness, tags={"outcome": str(o.status)})
                self._meter.fired(str(o.status), lateness)
            idle = self._own_stats_task is None or self._own_stats_task.done()
            if len(self._own_stats) and idle and time.monotonic() - self._own_stats_at >= 1.0:
                self._own_stats_at = time.monotonic()
                self._own_stats_task = asyncio.create_task(asyncio.to_thread(self._own_stats.flush))
        except Exception as exc:  # never let a stat break the record loop
            log.debug("Timer dispatcher %s: own stats skipped: %s", self.name, exc)

    async def _record_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Outcomes taken off the queue stay in self._unrecorded until their transaction commits, so a
        # database error followed by a reconnect records them then instead of dropping them.
        pending = self._unrecorded
        while True:
            if not pending:
                pending.append(await self._outcomes.get())
            await asyncio.sleep(0.005)  # let a burst gather into one batch
            while not self._outcomes.empty() and len(pending) < 2000:
                pending.append(self._outcomes.get_nowait())
            horizon = time.time() + self.settings.horizon
            soon = any(o.next_at is not None and o.next_at.timestamp() <= horizon for o in pending)
            await queue.record(conn, self.name, pending)
            self._record_own_stats(pending)
            pending.clear()
            if soon:
                self._claim_now.set()


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop closed while the thread was talking to the database
        loop.call_soon_threadsafe(callback)
