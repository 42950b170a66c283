"""``/courier/timers`` on a real database (authentication itself is tested in unit and e2e layers)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.timers import rules
from courier.timers.models import Claimed, Delivery
from courier.timers.rules import Status
from courier.timers.store import dispatch as queue
from tests import drill
from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"


@pytest.fixture
def client(courier_db: str, webhook_secret: str) -> Iterator[TestClient]:
    with TestClient(api_app("admin")) as test_client:
        yield test_client


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return int(conn.execute("SELECT count(*) FROM courier_timers").fetchone()[0])  # type: ignore[index]


def test_create_get_and_idempotent_replay(client: TestClient, courier_db: str) -> None:
    body = {"url": TARGET, "delay_seconds": 60, "payload": {"order": 7}, "headers": {"Authorization": "Bearer t"}}
    created = client.post("/timers", json={**body, "idempotency_key": "order-7"})
    assert created.status_code == 201, created.text
    timer = created.json()
    assert timer["status"] == "scheduled" and timer["id"].startswith("tmr_")
    assert timer["header_names"] == ["Authorization"] and "Bearer t" not in created.text
    again = client.post("/timers", json={**body, "idempotency_key": "order-7"})
    assert again.status_code == 200 and again.json()["id"] == timer["id"]
    assert _count(courier_db) == 1
    got = client.get(f"/timers/{timer['id']}").json()
    assert got["payload"] == {"order": 7} and got["attempt_log"] == [] and got["lateness_ms"] is None
    assert client.get("/timers/tmr_nope").status_code == 404


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"url": TARGET, "delay_seconds": -5}, ["body", "delay_seconds"]),
        ({"url": TARGET, "delay_seconds": 40 * 86400}, ["body", "delay_seconds"]),
        ({"url": "ftp://example.com/", "delay_seconds": 1}, ["body", "url"]),
        ({"url": TARGET, "delay_seconds": 1, "headers": {"Content-Length": "3"}}, ["body", "headers"]),
        ({"url": TARGET, "delay_seconds": 1, "payload": "x" * 70_000}, ["body", "payload"]),
        ({"url": TARGET}, ["body"]),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, courier_db: str, body: dict[str, object], loc: list[str]
) -> None:
    answer = client.post("/timers", json=body)
    assert answer.status_code == 422, answer.text
    assert any(e["loc"][: len(loc)] == loc for e in answer.json()["detail"]), answer.json()
    assert _count(courier_db) == 0


def test_non_finite_delay_is_refused(client: TestClient, courier_db: str) -> None:
    answer = client.post(
        "/timers",
        content=f'{{"url": "{TARGET}", "delay_seconds": NaN}}'.encode(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and _count(courier_db) == 0


def test_private_target_refused_unless_allowed(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    for url in ("http://127.0.0.1:8080/h/", "http://169.254.169.254/latest/", "http://[::1]/h/", "http://localhost/h/"):
        answer = client.post("/timers", json={"url": url, "delay_seconds": 1})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["body", "url"]
        assert "webhook_allow_private_targets" in answer.json()["detail"][0]["msg"]
    assert _count(courier_db) == 0


def test_batch_is_atomic(client: TestClient, courier_db: str) -> None:
    good = [{"url": TARGET, "delay_seconds": 30 + i} for i in range(3)]
    bad = client.post("/timers/batch", json={"timers": [good[0], {"url": "gopher://x/", "delay_seconds": 1}, good[1]]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "timers", 1, "url"]
    assert _count(courier_db) == 0
    too_many = client.post("/timers/batch", json={"timers": [good[0]] * 1001})
    assert too_many.status_code == 422 and _count(courier_db) == 0
    ok = client.post("/timers/batch", json={"timers": good})
    assert ok.status_code == 201 and len({t["id"] for t in ok.json()}) == 3
    assert _count(courier_db) == 3


def test_batch_of_1000_in_one_call(client: TestClient, courier_db: str) -> None:
    answer = client.post("/timers/batch", json={"timers": [{"url": TARGET, "delay_seconds": 600}] * 1000})
    assert answer.status_code == 201 and _count(courier_db) == 1000


def test_a_batch_resolves_each_name_once_in_parallel_and_the_limit_is_named(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, no_system_lookups: list[str]
) -> None:
    """1000 timers to 40 names whose lookups take 0.2 s each (a real name server on loopback): one query
    per name, all in parallel."""
    import time

    from courier.webhooks import policy
    from tests.dnsstub import DnsStub

    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    # Not a deadline test (the next one is): a loaded machine must not turn a slow answer into a 422 here.
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_DNS_TIMEOUT", "30")
    with DnsStub({f"h{i}.example": "93.184.216.34" for i in range(40)}, delay=0.2) as stub:
        monkeypatch.setattr(policy, "NAME_SERVERS", (stub.address,), raising=False)
        timers = [{"url": f"https://h{i % 40}.example/hook/", "delay_seconds": 600} for i in range(1000)]
        started = time.monotonic()
        answer = client.post("/timers/batch", json={"timers": timers})
        elapsed = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    assert stub.names_asked() == sorted(f"h{i}.example" for i in range(40))
    assert len([q for q in stub.queries if q[1] == "A"]) == 40, "a name was looked up more than once"
    assert elapsed < 40 * 0.2 / 2, f"lookups not in parallel: {elapsed:.1f}s"
    assert no_system_lookups == []
    too_many = client.post("/timers/batch", json={"timers": timers + timers[:1]})
    assert too_many.status_code == 422 and "at most 1000" in json.dumps(too_many.json()), too_many.text


def test_names_that_never_resolve_answer_422_within_the_deadline_holding_no_thread(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, no_system_lookups: list[str]
) -> None:
    """Security review #23, M1: a batch under a domain whose name server never answers (a real UDP server on
    loopback that swallows every query) is answered 422 within [courier] webhook_dns_timeout, naming the
    deadline; no worker thread waits on DNS (concurrent such requests all finish within the deadline)."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from courier.webhooks import policy
    from tests.dnsstub import DnsStub

    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_DNS_TIMEOUT", "1")
    with DnsStub({}) as stub:
        monkeypatch.setattr(policy, "NAME_SERVERS", (stub.address,), raising=False)
        timers = [{"url": f"https://n{i % 40}.blackhole.example/hook/", "delay_seconds": 600} for i in range(1000)]

        def post() -> tuple[float, int, str]:
            started = time.monotonic()
            answer = client.post("/timers/batch", json={"timers": timers})
            return time.monotonic() - started, answer.status_code, answer.text

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: post(), range(4)))
    for elapsed, code, text in results:
        assert code == 422, text
        assert "did not answer within 1s" in text and "n0.blackhole.example" in text, text
        assert elapsed < 4, f"answered after {elapsed:.1f}s (deadline 1 s)"
    assert len(stub.queries) > 0, "the lookups never reached the name server"
    assert no_system_lookups == [], "a blocking lookup ran on the request path"
    assert _count(courier_db) == 0


def test_a_batch_naming_too_many_hosts_is_422_naming_the_limit(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, no_system_lookups: list[str]
) -> None:
    from courier.webhooks import policy

    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    timers = [{"url": f"https://h{i}.example/hook/", "delay_seconds": 600} for i in range(policy.MAX_HOSTS + 1)]
    answer = client.post("/timers/batch", json={"timers": timers})
    assert answer.status_code == 422, answer.text
    assert f"at most {policy.MAX_HOSTS}" in answer.text and "51 distinct hosts" in answer.text, answer.text
    assert no_system_lookups == [] and _count(courier_db) == 0


def test_list_filters_and_pages(client: TestClient) -> None:
    ids = [client.post("/timers", json={"url": TARGET, "delay_seconds": 60}).json()["id"] for _ in range(5)]
    client.post(f"/timers/{ids[0]}/cancel")
    seen, cursor = [], None
    while True:
        page = client.get("/timers", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [t["id"] for t in page["timers"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids) and len(seen) == 5
    cancelled = client.get("/timers", params={"status": "cancelled"}).json()["timers"]
    assert [t["id"] for t in cancelled] == [ids[0]]
    assert client.get("/timers", params={"status": "nonsense"}).status_code == 422
    assert client.get("/timers", params={"cursor": "garbage"}).status_code == 422


def test_cancel(client: TestClient, courier_db: str) -> None:
    timer = client.post("/timers", json={"url": TARGET, "delay_seconds": 60}).json()
    cancelled = client.post(f"/timers/{timer['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.post(f"/timers/{timer['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"][0]["msg"]
    with psycopg.connect(courier_db) as conn:
        conn.execute("UPDATE courier_timers SET status = 'delivered'")
    assert client.post(f"/timers/{timer['id']}/cancel").status_code == 409
    assert client.post("/timers/tmr_nope/cancel").status_code == 404


def test_without_a_secret_timers_are_refused(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch, webhook_secret: str
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_SECRET", "")
    answer = client.post("/timers", json={"url": TARGET, "delay_seconds": 1})
    assert answer.status_code == 503 and "webhook_secret" in answer.text
    assert _count(courier_db) == 0
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_SECRET", webhook_secret)
    listed = client.get("/timers")
    assert webhook_secret not in listed.text and webhook_secret[6:] not in json.dumps(
        client.get("/openapi.json").json()
    )


# ---------------------------------------------------------------- H1, the store side (issue 23)
# A timer whose send kills its dispatcher is taken over a bounded number of times, then failed with a reason;
# a firing timer can be cancelled. The dispatchers' deaths are driven through the store's own functions
# (claim, mark, heartbeat), as the drills do around a component kill.


def _due_timer(client: TestClient) -> str:
    created = client.post("/timers", json={"url": TARGET, "delay_seconds": 0})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@asynccontextmanager
async def _dispatcher_connections(url: str) -> AsyncIterator[tuple[psycopg.AsyncConnection, psycopg.Connection]]:
    """The connections of a dispatcher: an async one for its loops, a blocking one for its heartbeat."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        with psycopg.connect(url, autocommit=True) as beat:
            yield conn, beat


async def _claim_and_mark(conn: psycopg.AsyncConnection, beat: psycopg.Connection, name: str) -> list[Claimed]:
    """Dispatcher ``name`` (alive) claims what is free and marks it firing, as the dispatcher does."""
    queue.heartbeat(beat, name, 30)
    claimed = await queue.claim(conn, name, horizon=5, limit=10, lease=30, grace=0)
    if claimed:
        marked = dict(await queue.mark_firing(conn, name, [c.id for c in claimed], 30))
        assert set(marked) == {c.id for c in claimed}
        for held in claimed:
            held.attempt = marked[held.id]
    return claimed


async def _fire_and_die(conn: psycopg.AsyncConnection, beat: psycopg.Connection, name: str) -> list[Claimed]:
    """Dispatcher ``name`` claims and marks; then it dies mid-send: nothing recorded, its heartbeat runs out."""
    claimed = await _claim_and_mark(conn, beat, name)
    queue.heartbeat(beat, name, -60)  # dead: its heartbeat ran out a minute ago
    return claimed


async def test_a_timer_that_keeps_killing_its_dispatcher_fails_after_the_reclaim_cap(
    client: TestClient, courier_db: str
) -> None:
    timer_id = _due_timer(client)
    async with _dispatcher_connections(courier_db) as (conn, beat):
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
    assert drill.open_count(courier_db, [timer_id]) == 0


async def test_a_takeover_that_delivers_is_not_counted_against_the_cap(client: TestClient, courier_db: str) -> None:
    """Only sends that never came back count: a timer retried after recorded answers is not failed by the cap."""
    timer_id = _due_timer(client)
    async with _dispatcher_connections(courier_db) as (conn, beat):
        for n in range(rules.MAX_RECLAIMS + 2):  # each attempt answered 503 and recorded as retrying
            (held,) = await _claim_and_mark(conn, beat, "live")
            now = datetime.now(UTC)
            outcome = Delivery(held, Status.RETRYING, now, 1.0, 503, f"HTTP 503 #{n}", now)
            await queue.record(conn, "live", [outcome])
        claimed = await _fire_and_die(conn, beat, "dies-once")  # one lost send: taken over, not failed
        assert [c.id for c in claimed] == [timer_id]
        queue.heartbeat(beat, "survivor", 30)
        assert [c.id for c in await queue.claim(conn, "survivor", horizon=5, limit=10, lease=30, grace=0)] == [timer_id]


async def test_a_firing_timer_is_cancelled_through_the_api_and_never_sent_again(
    client: TestClient, courier_db: str
) -> None:
    timer_id = _due_timer(client)
    async with _dispatcher_connections(courier_db) as (conn, beat):
        (held,) = await _claim_and_mark(conn, beat, "sender")
        assert client.get(f"/timers/{timer_id}").json()["status"] == Status.FIRING

        cancelled = client.post(f"/timers/{timer_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == Status.CANCELLED

        # the send that was on the wire comes back: its outcome does not undo the cancel
        now = datetime.now(UTC)
        await queue.record(conn, "sender", [Delivery(held, Status.RETRYING, now, 1.0, 503, "HTTP 503", now)])
        queue.heartbeat(beat, "sender", -60)  # and the sender dies: nobody takes the timer over
        queue.heartbeat(beat, "other", 30)
        assert await queue.claim(conn, "other", horizon=3600, limit=10, lease=30, grace=0) == []
    assert client.get(f"/timers/{timer_id}").json()["status"] == Status.CANCELLED
    again = client.post(f"/timers/{timer_id}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"][0]["msg"]
