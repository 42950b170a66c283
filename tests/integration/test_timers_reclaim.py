"""H1, the store side: a timer whose send kills its dispatcher is taken over a bounded number of times, then
failed with a reason; and a ``firing`` timer can be cancelled. The dispatchers' deaths are driven through the
store's own functions (claim, mark, heartbeat), as the drills do around a component kill."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.timers import rules
from courier.timers import store as queue
from courier.timers.models import Claimed, Delivery
from courier.timers.rules import Status
from courier.timers.store import TimerStore
from tests.helpers import api_app

pytestmark = pytest.mark.timeout(120)
TARGET = "http://127.0.0.1:9/hooks/"


@pytest.fixture
def client(courier_db: str, webhook_secret: str) -> Iterator[TestClient]:
    with TestClient(api_app("admin")) as test_client:
        yield test_client


def _due_timer(client: TestClient) -> str:
    created = client.post("/timers", json={"url": TARGET, "delay_seconds": 0})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _fire_and_die(conn: psycopg.AsyncConnection, beat: psycopg.Connection, name: str) -> list[Claimed]:
    """Dispatcher ``name`` claims what is free and marks it firing; then it dies mid-send: nothing recorded,
    and its heartbeat runs out."""
    queue.heartbeat(beat, name, 30)
    claimed = await queue.claim(conn, name, horizon=5, limit=10, lease=30, grace=0)
    if claimed:
        marked = await queue.mark_firing(conn, name, [c.id for c in claimed], 30)
        assert len(marked) == len(claimed)
    queue.heartbeat(beat, name, -60)  # dead: its heartbeat ran out a minute ago
    return claimed


async def test_a_timer_that_keeps_killing_its_dispatcher_fails_after_the_reclaim_cap(
    client: TestClient, courier_db: str
) -> None:
    timer_id = _due_timer(client)
    async with await psycopg.AsyncConnection.connect(courier_db, autocommit=True) as conn:
        with psycopg.connect(courier_db, autocommit=True) as beat:
            sends = 0
            for n in range(rules.MAX_RECLAIMS + 5):
                claimed = await _fire_and_die(conn, beat, f"dispatcher-{n}")
                if not claimed:
                    break
                assert [c.id for c in claimed] == [timer_id]
                sends += 1
            assert sends == rules.MAX_RECLAIMS + 1  # the first send and MAX_RECLAIMS takeovers, no more
            # never claimed again, by anybody
            queue.heartbeat(beat, "fresh", 30)
            assert await queue.claim(conn, "fresh", horizon=3600, limit=10, lease=30, grace=0) == []
    timer = client.get(f"/timers/{timer_id}").json()
    assert timer["status"] == Status.FAILED
    assert timer["finished_at"] is not None
    assert "dispatcher was lost" in timer["last_error"] and str(rules.MAX_RECLAIMS) in timer["last_error"]
    assert TimerStore(courier_db).open_count([timer_id]) == 0


async def test_a_takeover_that_delivers_is_not_counted_against_the_cap(client: TestClient, courier_db: str) -> None:
    """Only sends that never came back count: a timer retried after recorded answers is not failed by the cap."""
    timer_id = _due_timer(client)
    async with await psycopg.AsyncConnection.connect(courier_db, autocommit=True) as conn:
        with psycopg.connect(courier_db, autocommit=True) as beat:
            for n in range(rules.MAX_RECLAIMS + 2):  # each attempt answered 503 and recorded as retrying
                queue.heartbeat(beat, "live", 30)
                (held,) = await queue.claim(conn, "live", horizon=5, limit=10, lease=30, grace=0)
                ((_, attempt),) = await queue.mark_firing(conn, "live", [held.id], 30)
                held.attempt = attempt
                now = datetime.now(UTC)
                outcome = Delivery(held, Status.RETRYING, now, 1.0, 503, f"HTTP 503 #{n}", now)
                await queue.record(conn, "live", [outcome])
            claimed = await _fire_and_die(conn, beat, "dies-once")  # one lost send: taken over, not failed
            assert [c.id for c in claimed] == [timer_id]
            queue.heartbeat(beat, "survivor", 30)
            assert [c.id for c in await queue.claim(conn, "survivor", horizon=5, limit=10, lease=30, grace=0)] == [
                timer_id
            ]


async def test_a_firing_timer_is_cancelled_through_the_api_and_never_sent_again(
    client: TestClient, courier_db: str
) -> None:
    timer_id = _due_timer(client)
    async with await psycopg.AsyncConnection.connect(courier_db, autocommit=True) as conn:
        with psycopg.connect(courier_db, autocommit=True) as beat:
            queue.heartbeat(beat, "sender", 30)
            (held,) = await queue.claim(conn, "sender", horizon=5, limit=10, lease=30, grace=0)
            ((_, attempt),) = await queue.mark_firing(conn, "sender", [held.id], 30)
            assert client.get(f"/timers/{timer_id}").json()["status"] == Status.FIRING

            cancelled = client.post(f"/timers/{timer_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["status"] == Status.CANCELLED

            # the send that was on the wire comes back: its outcome does not undo the cancel
            held.attempt = attempt
            now = datetime.now(UTC)
            await queue.record(conn, "sender", [Delivery(held, Status.RETRYING, now, 1.0, 503, "HTTP 503", now)])
            queue.heartbeat(beat, "sender", -60)  # and the sender dies: nobody takes the timer over
            queue.heartbeat(beat, "other", 30)
            assert await queue.claim(conn, "other", horizon=3600, limit=10, lease=30, grace=0) == []
    assert client.get(f"/timers/{timer_id}").json()["status"] == Status.CANCELLED
    again = client.post(f"/timers/{timer_id}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"][0]["msg"]
