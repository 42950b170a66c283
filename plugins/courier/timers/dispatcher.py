"""The timer dispatcher: claim due timers from PostgreSQL, fire each at its instant, record the outcome.

One :class:`Dispatcher` is a plain asyncio object; :class:`~courier.timers.trigger.TimerDispatchTrigger`
runs it inside Airflow's triggerer, tests and benchmarks run it directly. Any number of dispatchers
share one database:

* **claim** - every ``poll_interval`` seconds, and at once when the API announces a timer due soon
  (``LISTEN courier_timers``), take open timers due within ``horizon`` seconds with
  ``FOR UPDATE SKIP LOCKED`` and a lease (``lease_owner``, ``lease_until``), and keep them in a heap;
* **mark** - ``lead`` seconds before a timer is due, set it ``firing`` and count the attempt, only if this
  dispatcher still holds the lease and the timer is still open (a cancel in between wins);
* **send** - sleep to the exact instant and POST ``{id, scheduled_for, fired_at, payload}`` to
  ``url + id`` with Standard Webhooks headers (``webhook-id`` is the timer id on every attempt);
* **record** - write the outcome and the attempt in batches, release the lease.

A dispatcher that stops cleanly hands its unfired claims back at once. One that dies leaves leases that
expire (``claim_lease`` after the due time, or ``webhook_timeout`` + 5 s after a send began); another
dispatcher then takes the timer and fires it with the same ``webhook-id``: the firing is committed once,
the HTTP call is at-least-once, and the receiver can drop a repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import psycopg

from courier import __version__
from courier.http import parse_retry_after
from courier.timers import signing
from courier.timers.policy import AsyncPolicy
from courier.timers.rules import Status, decide
from courier.timers.store import CHANNEL

log = logging.getLogger(__name__)

_CLAIM = """
WITH due AS (
    SELECT id FROM courier_timers
    WHERE status IN ('scheduled', 'firing', 'retrying')
      AND next_attempt_at <= now() + make_interval(secs => %(horizon)s)
      AND (lease_until IS NULL OR lease_until < now())
    ORDER BY next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE courier_timers t
SET lease_owner = %(owner)s,
    lease_until = greatest(t.next_attempt_at, now()) + make_interval(secs => %(lease)s)
FROM due WHERE t.id = due.id
RETURNING t.id, t.url, t.fire_at, t.next_attempt_at, t.payload, t.headers, t.expire_at
"""
_MARK = """
UPDATE courier_timers
SET status = 'firing', attempts = attempts + 1, lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s AND status IN ('scheduled', 'firing', 'retrying')
RETURNING id, attempts
"""
_RECORD = """
UPDATE courier_timers
SET status = %(status)s,
    fired_at = coalesce(fired_at, %(started)s),
    finished_at = CASE WHEN %(final)s THEN now() END,
    next_attempt_at = coalesce(%(next)s, next_attempt_at),
    last_error = %(error)s,
    lease_owner = NULL, lease_until = NULL
WHERE id = %(id)s AND lease_owner = %(owner)s
"""
_ATTEMPT = """
INSERT INTO courier_timer_attempts (timer_id, attempt, started_at, duration_ms, status_code, error, dispatcher)
VALUES (%(id)s, %(attempt)s, %(started)s, %(duration_ms)s, %(code)s, %(error)s, %(owner)s)
ON CONFLICT DO NOTHING
"""
_RELEASE = """
UPDATE courier_timers SET lease_owner = NULL, lease_until = NULL
WHERE id = ANY(%(ids)s) AND lease_owner = %(owner)s AND status IN ('scheduled', 'retrying')
"""


@dataclass(frozen=True)
class DispatcherSettings:
    """How a dispatcher signs, sends and paces. The secret is never logged."""

    secret: str = field(repr=False)
    allow_private: bool = False
    allowed_hosts: tuple[str, ...] = ()
    retry_schedule: tuple[float, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    timeout: float = 15.0
    horizon: float = 2.0  # claim timers due within this many seconds
    poll_interval: float = 0.5  # claim at least this often (LISTEN/NOTIFY wakes it sooner)
    claim_lease: float = 10.0  # an unfired claim is free for others this long after the due time
    lead: float = 0.05  # mark a timer firing this long before its instant, to hide the round trip
    batch: int = 1000
    max_in_flight: int = 256
    max_held: int = 20_000

    @classmethod
    def from_config(cls, **overrides: Any) -> DispatcherSettings:
        from courier.config import load

        cfg = load()
        if not cfg.webhook_secret:
            raise RuntimeError("[courier] webhook_secret is not set: timers are not sent unsigned (see docs/timers.md)")
        return cls(
            secret=cfg.webhook_secret,
            allow_private=cfg.webhook_allow_private_targets,
            allowed_hosts=cfg.webhook_allowed_hosts,
            retry_schedule=cfg.webhook_retry_schedule,
            timeout=cfg.webhook_timeout,
            **overrides,
        )


@dataclass(order=True)
class _Held:
    due: float
    id: str = field(compare=False)
    url: str = field(compare=False)
    fire_at: datetime = field(compare=False)
    payload: Any = field(compare=False)
    headers: dict[str, str] = field(compare=False)
    expire_at: datetime | None = field(compare=False)
    attempt: int = field(default=0, compare=False)


@dataclass
class _Outcome:
    timer: _Held
    status: Status
    started: datetime | None = None
    duration_ms: float = 0.0
    code: int | None = None
    error: str | None = None
    next_at: datetime | None = None


class Dispatcher:
    """Fire due timers from the Courier database until :meth:`stop` or cancellation.

    :param conninfo: libpq URL of the Courier database.
    :param settings: signing secret, URL policy, retry schedule and pacing.
    :param name: lease owner name (default host:pid:random).
    """

    def __init__(self, conninfo: str, settings: DispatcherSettings, name: str | None = None) -> None:
        self.conninfo = conninfo
        self.settings = settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stats = {"claimed": 0, "sent": 0, "delivered": 0, "retrying": 0, "failed": 0, "expired": 0, "lost": 0}
        self._key = signing.secret_key(settings.secret)
        self._policy = AsyncPolicy(settings.allow_private, allowed_hosts=settings.allowed_hosts)
        self._heap: list[_Held] = []
        self._held: set[str] = set()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: asyncio.Queue[_Outcome] = asyncio.Queue()
        self._unrecorded: list[_Outcome] = []
        self._claim_now = asyncio.Event()
        self._heap_changed = asyncio.Event()
        self._stopping = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.max_in_flight)

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
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=s.max_in_flight, ttl_dns_cache=60),
            timeout=aiohttp.ClientTimeout(total=s.timeout),
            headers={"user-agent": f"Courier/{__version__}", "content-type": "application/json"},
        ) as session:
            self._session = session
            loops = [
                asyncio.create_task(self._forever("claim", self._claim_loop), name="courier-timers-claim"),
                asyncio.create_task(self._forever("listen", self._listen_loop), name="courier-timers-listen"),
                asyncio.create_task(self._forever("fire", self._fire_loop), name="courier-timers-fire"),
            ]
            recorder = asyncio.create_task(self._forever("record", self._record_loop), name="courier-timers-record")
            try:
                await self._stopping.wait()
            finally:
                await asyncio.shield(self._shutdown(loops, recorder))
        log.info("Timer dispatcher %s stopped: %s", self.name, self.stats)

    async def _shutdown(self, loops: list[asyncio.Task[None]], recorder: asyncio.Task[None]) -> None:
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        unfired = [h.id for h in self._heap]
        self._heap.clear()
        if unfired:
            with contextlib.suppress(psycopg.Error, OSError):
                async with await self._connect() as conn:
                    await conn.execute(_RELEASE, {"ids": unfired, "owner": self.name})
            log.info("Handed back %d claimed timer(s)", len(unfired))
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=min(self.settings.timeout, 5.0))
        for task in self._in_flight:
            task.cancel()  # its lease expires and another dispatcher sends it again
        deadline = time.monotonic() + 5
        while (self._unrecorded or not self._outcomes.empty()) and time.monotonic() < deadline and not recorder.done():
            await asyncio.sleep(0.01)
        recorder.cancel()
        await asyncio.gather(recorder, return_exceptions=True)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True, connect_timeout=10)

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
                backoff = min(backoff * 2, 5.0)

    # ------------------------------------------------------------------ claim
    async def _claim_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        s = self.settings
        while True:
            self._claim_now.clear()
            room = min(s.batch, s.max_held - len(self._held))
            rows = []
            if room > 0:
                params = {"horizon": s.horizon, "limit": room, "owner": self.name, "lease": s.claim_lease}
                rows = await (await conn.execute(_CLAIM, params)).fetchall()
            for row in rows:
                timer_id, url, fire_at, next_at, payload, headers, expire_at = row
                if timer_id in self._held:  # our own lease expired and we took it again
                    continue
                self._held.add(timer_id)
                heapq.heappush(
                    self._heap, _Held(next_at.timestamp(), timer_id, url, fire_at, payload, headers or {}, expire_at)
                )
            if rows:
                self.stats["claimed"] += len(rows)
                self._heap_changed.set()
            if len(rows) == room and room > 0:
                continue  # more are due: claim again at once
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._claim_now.wait(), s.poll_interval)

    async def _listen_loop(self, conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute(f"LISTEN {CHANNEL}")
        async for note in conn.notifies():
            try:
                due = float(note.payload)
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
            batch: list[_Held] = []
            while self._heap and self._heap[0].due <= horizon and len(batch) < s.batch:
                batch.append(heapq.heappop(self._heap))
            now = datetime.now(UTC)
            expired = [h for h in batch if h.expire_at is not None and h.expire_at < now]
            for held in expired:
                self._finish(_Outcome(held, Status.EXPIRED, error="expired before it could be delivered"))
            live = {h.id: h for h in batch if h.expire_at is None or h.expire_at >= now}
            if not live:
                continue
            params = {"ids": list(live), "owner": self.name, "lease": s.timeout + 5}
            try:
                marked = await (await conn.execute(_MARK, params)).fetchall()
            except BaseException:
                for held in live.values():  # not marked: keep them, the reconnected loop retries
                    heapq.heappush(self._heap, held)
                raise
            for timer_id, attempt in marked:
                held = live.pop(timer_id)
                held.attempt = attempt
                task = asyncio.create_task(self._deliver(held))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            for timer_id in live:  # cancelled, or taken over by another dispatcher, since the claim
                self._held.discard(timer_id)
                self.stats["lost"] += 1

    async def _deliver(self, held: _Held) -> None:
        delay = held.due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        async with self._slots:
            refusal = await self._policy.refusal(held.url)
            if refusal:
                self._finish(_Outcome(held, Status.FAILED, started=datetime.now(UTC), error=refusal))
                return
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
            headers = {**held.headers, **signing.headers(self._key, held.id, body, int(started.timestamp()))}
            clock = time.perf_counter()
            code: int | None = None
            error: str | None = None
            retry_after: float | None = None
            try:
                async with self._session.post(
                    held.url + held.id, data=body, headers=headers, allow_redirects=False
                ) as response:
                    await response.read()
                    code = response.status
                    retry_after = parse_retry_after(response.headers.get("retry-after"), maximum=24 * 3600)
            except TimeoutError:
                error = f"timed out after {self.settings.timeout:g}s"
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
            self.stats["sent"] += 1
            duration_ms = (time.perf_counter() - clock) * 1000
            decision = decide(code, held.attempt, self.settings.retry_schedule, retry_after, error)
            next_at = None
            status = decision.status
            if decision.delay is not None:
                next_at = datetime.fromtimestamp(time.time() + decision.delay, UTC)
                if held.expire_at is not None and next_at > held.expire_at:
                    status = Status.EXPIRED
            self._finish(_Outcome(held, status, started, duration_ms, code, decision.reason, next_at))

    def _finish(self, outcome: _Outcome) -> None:
        self._held.discard(outcome.timer.id)
        self.stats[str(outcome.status)] = self.stats.get(str(outcome.status), 0) + 1
        self._outcomes.put_nowait(outcome)

    # ------------------------------------------------------------------ record
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
            updates, attempts = [], []
            soon = False
            for o in pending:
                final = o.status not in (Status.RETRYING,)
                updates.append(
                    {
                        "id": o.timer.id,
                        "owner": self.name,
                        "status": str(o.status),
                        "started": o.started,
                        "final": final,
                        "next": o.next_at,
                        "error": o.error if o.status is not Status.DELIVERED else None,
                    }
                )
                if o.started is not None:
                    attempts.append(
                        {
                            "id": o.timer.id,
                            "attempt": o.timer.attempt,
                            "started": o.started,
                            "duration_ms": round(o.duration_ms, 3),
                            "code": o.code,
                            "error": o.error if o.status is not Status.DELIVERED else None,
                            "owner": self.name,
                        }
                    )
                if o.next_at is not None and o.next_at.timestamp() <= time.time() + self.settings.horizon:
                    soon = True
            async with conn.transaction(), conn.cursor() as cur:
                if attempts:
                    await cur.executemany(_ATTEMPT, attempts)
                await cur.executemany(_RECORD, updates)
            pending.clear()
            if soon:
                self._claim_now.set()
