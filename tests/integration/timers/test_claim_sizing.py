"""A dispatcher claims what it can send before a claim's lease ends (issue #27), against a real PostgreSQL and a
receiver on loopback that answers slowly. Counts, not clocks: how many timers a dispatcher holds in the
database at any moment, and that a backlog longer than the lease is still sent once each, oldest first."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import psycopg
import pytest

from courier.demo import receiver as demo_receiver
from courier.timers.dispatcher import Dispatcher, DispatcherSettings
from courier.timers.store import TimerStore
from tests.integration.timers.test_dispatch import _all_final, _running, _timers, _until

pytestmark = pytest.mark.timeout(120)


class HeldCounts:
    """Sample, from a thread of its own, how many open timers each dispatcher leases in the database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.most: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.wait(0.01):
                rows = conn.execute(
                    "SELECT lease_owner, count(*) FROM courier_timers WHERE lease_owner IS NOT NULL"
                    " AND status IN ('scheduled', 'retrying', 'firing') GROUP BY 1"
                ).fetchall()
                for owner, held in rows:
                    self.most[owner] = max(self.most.get(owner, 0), held)

    def __enter__(self) -> HeldCounts:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _settings(secret: str, **overrides: Any) -> DispatcherSettings:
    return DispatcherSettings(secret=secret, allow_private=True, **overrides)


def _sent_in_order(url: str) -> dict[str, list[float]]:
    """Per dispatcher: the due times (epoch) of the timers it sent, in the order it started sending them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.dispatcher, extract(epoch FROM t.fire_at) FROM courier_timer_attempts a"
            " JOIN courier_timers t ON t.id = a.timer_id ORDER BY a.started_at"
        ).fetchall()
    order: dict[str, list[float]] = {}
    for dispatcher, due in rows:
        order.setdefault(dispatcher, []).append(float(due))
    return order


async def test_a_dispatcher_with_a_slow_receiver_holds_no_more_than_it_can_send_within_its_lease(
    courier_db: str, receiver: str, webhook_secret: str
) -> None:
    # 4 senders, each answer 0.1 s: at most 40 sends a second, 40 within the 1 s lease. 150 are due at once.
    httpx.post(f"{receiver}/_demo/webhooks/config", json={"delay": 0.1}).raise_for_status()
    TimerStore(courier_db).create(_timers(receiver, 150, first=0.5, spread=0.2))
    dispatcher = Dispatcher(courier_db, _settings(webhook_secret, max_in_flight=4, claim_lease=1.0))
    sendable_within_lease = 4 / 0.1 * 1.0
    with HeldCounts(courier_db) as held:
        async with _running(dispatcher):
            await _until(lambda: _all_final(courier_db), 60, "150 timers to be final")
    assert 0 < held.most[dispatcher.name] <= sendable_within_lease, held.most
    assert dispatcher.stats["lost"] == 0 and dispatcher.stats["delivered"] == 150, dispatcher.stats
    arrivals = demo_receiver.STATE.arrivals
    assert len(arrivals) == 150 and not any(a["repeat"] for a in arrivals)


async def test_a_burst_longer_than_the_lease_is_sent_once_each_oldest_first(
    courier_db: str, receiver: str, webhook_secret: str
) -> None:
    # Two dispatchers, 4 senders each, answers after 0.05 s: ~160 sends a second together, so the 400 due
    # within one second take ~2.5 s, longer than the 1 s claim lease.
    httpx.post(f"{receiver}/_demo/webhooks/config", json={"delay": 0.05}).raise_for_status()
    TimerStore(courier_db).create(_timers(receiver, 400, first=1.0, spread=0.999))
    settings = _settings(webhook_secret, max_in_flight=4, claim_lease=1.0)
    first, second = Dispatcher(courier_db, settings), Dispatcher(courier_db, settings)
    async with _running(first), _running(second):
        await _until(lambda: _all_final(courier_db), 60, "400 timers to be final")
        await asyncio.sleep(0.2)
    with psycopg.connect(courier_db) as conn:
        rows = conn.execute(
            "SELECT t.status, t.attempts, (SELECT count(*) FROM courier_timer_attempts a WHERE a.timer_id = t.id)"
            " FROM courier_timers t"
        ).fetchall()
    assert len(rows) == 400
    assert {status for status, _, _ in rows} == {"delivered"}, "lost"
    assert all(attempts == 1 and recorded == 1 for _, attempts, recorded in rows), "fired twice"
    arrivals = demo_receiver.STATE.arrivals
    assert (
        len(arrivals) == 400
        and len({a["webhook_id"] for a in arrivals}) == 400
        and not any(a["repeat"] for a in arrivals)
    ), "received twice"
    order = _sent_in_order(courier_db)
    assert set(order) == {first.name, second.name}, "both dispatchers shared the burst"
    for dispatcher, dues in order.items():
        assert dues == sorted(dues), f"{dispatcher} did not send oldest first"
