"""The timer dispatcher: claim due timers from PostgreSQL, fire each at its instant, record the outcome.

One :class:`Dispatcher` is a plain asyncio object; :class:`~courier.timers.trigger.TimerDispatchTrigger`
runs it inside Airflow's triggerer, tests and benchmarks run it directly. Any number of dispatchers
share one database; the SQL of every step below is in :mod:`courier.timers.store`, the tables' owner:

* **claim** - every ``poll_interval`` seconds, at once when the API announces a timer due soon (``LISTEN`` on
  the store's channel), and at once when sends made room after a claim that found more due: take open timers
  due within ``horizon`` seconds with ``FOR UPDATE SKIP LOCKED`` and a lease (``lease_owner``, ``lease_until``)
  into a heap by due time. It claims only up to what it can send before a claim's lease runs out
  (:class:`~courier.timers.leases.Pace`: the measured send rate x half the lease, one per sender before
  anything was measured), so a backlog it holds never outlives the lease, and the rest of a burst stays free
  for another dispatcher;
* **mark** - ``lead`` seconds before a timer is due, set it ``firing`` and count the attempt, only if this
  dispatcher still holds the lease and the timer is still open (a cancel in between wins); never more than
  half a second of sends ahead of the senders (:attr:`Pace.marked_cap`), so a backlog waits as a claim;
* **send** - a fixed pool of ``max_in_flight`` sender tasks takes marked timers in due order, each at its
  instant, and POSTs ``{id, scheduled_for, fired_at, payload}`` (the payload's stored JSON text as is) to
  ``url + id`` with Standard Webhooks headers (``webhook-id`` is the timer id on every attempt; job events
  signed with the job-event key) (:mod:`courier.timers.delivery`). The URL policy is applied to ``url + id``
  and, at connect time, by the client's resolver (:class:`~courier.webhooks.policy.CheckedResolver`) to the
  addresses connected to; redirects are not followed, at most 16 KiB of an answer is read, never
  decompressed (:mod:`courier.webhooks.send`);
* **record** - write a batch of outcomes and attempts in one statement, releasing the leases; each
  attempt's lateness goes to Courier's stats on one long-held connection, once a second
  (:mod:`courier.timers.lateness`);
* **heartbeat** - every ``heartbeat_interval`` seconds renew this dispatcher's row in the dispatchers' table
  (``alive_until = now() + heartbeat_ttl``) and wake the claim loop when another dispatcher's row has run out,
  in a thread of its own with a blocking connection (:class:`~courier.timers.leases.Heartbeat`), so a stalled
  event loop (the triggerer warns about 0.5 s stalls under load) is not mistaken for a death; it stops
  renewing only when the loop has not ticked for ``stall_limit`` seconds (a hung dispatcher gives its timers up).

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
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
from aiohttp.abc import AbstractResolver

from courier.db.hook import CourierDbHook, source
from courier.timers import delivery
from courier.timers.lateness import Lateness
from courier.timers.leases import Heartbeat, Pace
from courier.timers.models import Claimed, Delivery
from courier.timers.rules import Status
from courier.timers.settings import DispatcherSettings
from courier.timers.store import dispatch as queue

__all__ = ["Dispatcher", "DispatcherSettings", "claim_statement"]


def claim_statement(settings: DispatcherSettings, owner: str, limit: int) -> tuple[str, dict[str, Any]]:
    """The claim query and its parameters exactly as this dispatcher's claim loop runs them (benchmarks and
    tests ``EXPLAIN`` it)."""
    return queue.claim_statement(
        owner, horizon=settings.horizon, limit=limit, lease=settings.claim_lease, grace=settings.firing_grace
    )


log = logging.getLogger(__name__)

Due = tuple[float, int, Claimed]
"""A heap entry: (due, sequence, timer): tuples compare in C, the sequence breaks ties in claim order."""


class Dispatcher:
    """Fire due timers from the Courier database until :meth:`stop` or cancellation.

    :param db: the Courier DB hook it opens its connections through (it holds them: one per loop, one for
        the heartbeat thread, one for its lateness stats; never pooled), or a libpq URL.
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
        self.pace = Pace(settings)
        self._lookup = lookup
        self._seq = itertools.count()
        self._claimed: list[Due] = []  # claimed, not marked yet
        self._marked: list[Due] = []  # marked firing, waiting for their instant
        self._due: asyncio.Queue[Claimed] = asyncio.Queue()  # their instant came: the senders take them in order
        self._sending = 0
        self._held: set[str] = set()  # claimed and not recorded yet (what the claim sizing counts)
        self._more_due = False  # the last claim was cut by the room left: claim again when sends make room
        self._outcomes: asyncio.Queue[Delivery] = asyncio.Queue()
        self._unrecorded: list[Delivery] = []
        self._lateness = Lateness(self.db)
        self._claim_now = asyncio.Event()
        self._claimed_changed = asyncio.Event()
        self._marked_changed = asyncio.Event()
        self._room_to_mark = asyncio.Event()
        self._stopping = asyncio.Event()
        self._alive = asyncio.Event()  # set once the first heartbeat is written: claims wait for it
        self._beat = Heartbeat(self.db, self.name, settings, self._alive.set, self._claim_now.set)
        self._checks: dict[str, asyncio.Future[bool]] = {}  # lease checks asked after a heartbeat lapse
        self._checking: asyncio.Task[None] | None = None
        self._check_conn: psycopg.AsyncConnection[Any] | None = None

    @property
    def held(self) -> int:
        """Timers this dispatcher holds now: claimed and not recorded yet."""
        return len(self._held)

    def _queued(self) -> int:
        """Marked timers not sent yet (waiting for their instant, for a sender, or on the wire)."""
        return len(self._marked) + self._due.qsize() + self._sending

    def _backlog(self) -> bool:
        """Whether timers are due and not yet being sent (the senders are the limit now)."""
        now = time.time()
        return self._due.qsize() > 0 or any(heap and heap[0][0] <= now for heap in (self._claimed, self._marked))

    # ------------------------------------------------------------------ life cycle
    def stop(self) -> None:
        """Ask :meth:`run` to hand back its claims, finish in-flight sends and return."""
        self._stopping.set()

    async def run(self) -> None:
        """Dispatch until :meth:`stop` is called or the task is cancelled (both end cleanly)."""
        s = self.settings
        log.info("Timer dispatcher %s starting (horizon %.1fs, poll %.2fs)", self.name, s.horizon, s.poll_interval)
        async with delivery.session(s, self._lookup) as session:
            self._sender = delivery.Sender(s, session)
            self._beat.start(asyncio.get_running_loop())
            loops = [
                asyncio.create_task(self._forever("claim", self._claim_loop), name="courier-timers-claim"),
                asyncio.create_task(self._forever("listen", self._listen_loop), name="courier-timers-listen"),
                asyncio.create_task(self._forever("mark", self._mark_loop), name="courier-timers-mark"),
            ]
            # these run until in-flight sends are recorded: the tick tells the heartbeat thread the loop lives
            sends = [asyncio.create_task(self._clock_loop(), name="courier-timers-clock")]
            sends += [asyncio.create_task(self._send_loop()) for _ in range(s.max_in_flight)]
            tick = asyncio.create_task(self._tick_loop(), name="courier-timers-tick")
            recorder = asyncio.create_task(self._forever("record", self._record_loop), name="courier-timers-record")
            try:
                await self._stopping.wait()
            finally:
                await asyncio.shield(self._shutdown(loops, sends, tick, recorder))
        log.info("Timer dispatcher %s stopped: %s", self.name, self.stats)

    async def _shutdown(
        self,
        loops: list[asyncio.Task[None]],
        sends: list[asyncio.Task[None]],
        tick: asyncio.Task[None],
        recorder: asyncio.Task[None],
    ) -> None:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        unfired = [held.id for _, _, held in self._claimed]
        self._claimed.clear()
        if unfired:
            with contextlib.suppress(psycopg.Error, OSError):
                async with await self._connect() as conn:
                    await queue.release(conn, self.name, unfired)
            log.info("Handed back %d claimed timer(s)", len(unfired))
        deadline = time.monotonic() + min(self.settings.timeout, 5.0)
        while self._queued() and time.monotonic() < deadline:  # marked ones due meanwhile are sent
            await asyncio.sleep(0.01)
        for task in sends:
            task.cancel()  # what is left: freed with the heartbeat row, another dispatcher sends it again
        if self._checking is not None:
            sends.append(self._checking)
            self._checking.cancel()
        await asyncio.gather(*sends, return_exceptions=True)
        deadline = time.monotonic() + 5
        while (self._unrecorded or not self._outcomes.empty()) and time.monotonic() < deadline and not recorder.done():
            await asyncio.sleep(0.01)
        recorder.cancel()
        tick.cancel()
        await asyncio.gather(recorder, tick, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.to_thread(self._lateness.close), timeout=5)
        await self._beat.stop()
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
                    await queue.dispatch_session(conn)  # plans that no statistics can turn into a table scan
                    backoff = 0.2
                    await loop(conn)
            except (psycopg.Error, OSError) as exc:
                log.warning("Timer dispatcher %s: %s loop lost the database (%s); retrying", self.name, what, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)

    async def _tick_loop(self) -> None:
        while True:
            self._beat.tick = time.monotonic()
            self.pace.sample(queued=self._backlog())
            self._lateness.tick()  # the platform's metrics and the stats flush, at most once a second
            await asyncio.sleep(0.1)

    # ------------------------------------------------------------------ claim
    async def _claim_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        s = self.settings
        await self._alive.wait()  # a claim without a heartbeat row would be free for others at once
        while True:
            self._claim_now.clear()
            room = min(s.batch, self.pace.held_cap - len(self._held))
            rows = []
            if room > 0:
                rows = await queue.claim(
                    conn, self.name, horizon=s.horizon, limit=room, lease=s.claim_lease, grace=s.firing_grace
                )
            for claimed in rows:
                if claimed.id in self._held:  # our own lease expired and we took it again
                    continue
                self._held.add(claimed.id)
                heapq.heappush(self._claimed, (claimed.due, next(self._seq), claimed))
            if rows:
                self.stats["claimed"] += len(rows)
                self._claimed_changed.set()
            self._more_due = room <= 0 or len(rows) == room
            if room > 0 and len(rows) == room and len(self._held) < self.pace.held_cap:
                continue  # more are due and there is room: claim again at once
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

    # ------------------------------------------------------------------ mark
    async def _mark_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        s = self.settings
        while True:
            self._claimed_changed.clear()
            if not self._claimed:
                await self._claimed_changed.wait()
                continue
            wait = self._claimed[0][0] - s.lead - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._claimed_changed.wait(), wait)
                continue
            room = min(s.batch, self.pace.marked_cap - self._queued())
            if room <= 0:  # the senders have enough marked: a backlog waits as claims, not as firings
                self._room_to_mark.clear()
                await self._room_to_mark.wait()
                continue
            horizon = time.time() + s.lead
            batch: list[Claimed] = []
            while self._claimed and self._claimed[0][0] <= horizon and len(batch) < room:
                batch.append(heapq.heappop(self._claimed)[2])
            now = datetime.now(UTC)
            live: dict[str, Claimed] = {}
            for held in batch:
                if held.expire_at is not None and held.expire_at < now:
                    self._finish(Delivery(held, Status.EXPIRED, error="expired before it could be delivered"))
                else:
                    live[held.id] = held
            if not live:
                continue
            try:
                marked = await queue.mark_firing(conn, self.name, list(live), s.timeout + 5)
            except BaseException:
                for held in live.values():  # not marked: keep them, the reconnected loop retries
                    heapq.heappush(self._claimed, (held.due, next(self._seq), held))
                raise
            at = time.monotonic()
            for timer_id, attempt in marked:
                held = live.pop(timer_id)
                held.attempt = attempt
                held.marked_at = at
                heapq.heappush(self._marked, (held.due, next(self._seq), held))  # oldest first, whatever order
                # the UPDATE returned them in
            self._marked_changed.set()
            for timer_id in live:  # cancelled, or taken over by another dispatcher, since the claim
                self._held.discard(timer_id)
                self.stats["lost"] += 1

    # ------------------------------------------------------------------ send
    async def _clock_loop(self) -> None:
        """Hand marked timers to the senders at their instant, in due order."""
        while True:
            self._marked_changed.clear()
            if not self._marked:
                await self._marked_changed.wait()
                continue
            wait = self._marked[0][0] - time.time()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._marked_changed.wait(), wait)
                continue
            now = time.time()
            while self._marked and self._marked[0][0] <= now:
                self._due.put_nowait(heapq.heappop(self._marked)[2])

    async def _send_loop(self) -> None:
        """One of the fixed pool of senders: take the next timer due, send it, hand the outcome on."""
        while True:
            held = await self._due.get()
            self._sending += 1
            try:
                await self._send(held)
            except Exception:  # never lose a sender; the timer's lease decides who sends it again
                log.exception("Timer dispatcher %s: sending %s failed unexpectedly", self.name, held.id)
                self._held.discard(held.id)
            finally:
                self._sending -= 1
                self.pace.sent()
                if self._queued() * 2 <= self.pace.marked_cap:
                    self._room_to_mark.set()

    async def _send(self, held: Claimed) -> None:
        if self._beat.lapsed_since(held.marked_at) and not await self._still_mine(held.id):
            # our heartbeat ran out after the firing was committed (a stall, an outage) and another
            # dispatcher took the timer over: it sends it, not us
            self._held.discard(held.id)
            self.stats["lost"] += 1
            return
        outcome, sent = await self._sender.deliver(held)
        if sent:
            self.stats["sent"] += 1
        self._finish(outcome)

    async def _still_mine(self, timer_id: str) -> bool:
        """Return whether this dispatcher still holds ``timer_id`` (asked only after a heartbeat lapse). The
        senders asking meanwhile are answered together: one query for all of them, one at a time on one
        connection, so a lapse under a backlog costs a round trip, not one per timer."""
        answer = self._checks.get(timer_id)
        if answer is None:
            answer = self._checks[timer_id] = asyncio.get_running_loop().create_future()
        if self._checking is None or self._checking.done():
            self._checking = asyncio.create_task(self._check_leases())
        return await asyncio.shield(answer)

    async def _check_leases(self) -> None:
        while self._checks:
            asked, self._checks = self._checks, {}
            try:
                if self._check_conn is None or self._check_conn.closed:
                    self._check_conn = await self._connect()
                    await queue.dispatch_session(self._check_conn)
                mine = await queue.leased_by(self._check_conn, self.name, list(asked))
            except (psycopg.Error, OSError):
                mine = set()  # cannot tell: the lease decides who sends them
            for timer_id, answer in asked.items():
                if not answer.done():
                    answer.set_result(timer_id in mine)

    def _finish(self, outcome: Delivery) -> None:
        self._held.discard(outcome.timer.id)
        self.stats[str(outcome.status)] = self.stats.get(str(outcome.status), 0) + 1
        self._outcomes.put_nowait(outcome)
        if self._more_due and len(self._held) * 2 <= self.pace.held_cap:
            self._more_due = False
            self._claim_now.set()  # the last claim left some due behind: there is room for them now

    # ------------------------------------------------------------------ record
    async def _record_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        # Outcomes taken off the queue stay in self._unrecorded until their statement commits, so a
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
            self._lateness.add(pending)
            pending.clear()
            if soon:
                self._claim_now.set()
