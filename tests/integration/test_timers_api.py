"""``/courier/timers`` on a real database (authentication itself is tested in unit and e2e layers)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

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
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1000 timers to 40 names whose lookups take 0.2 s each: one lookup per name, at most 16 at a time."""
    import socket
    import threading
    import time

    from courier.webhooks import policy

    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    lookups: list[str] = []
    busy, most = [0], [0]
    lock = threading.Lock()

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        with lock:
            lookups.append(host)
            busy[0] += 1
            most[0] = max(most[0], busy[0])
        time.sleep(0.2)
        with lock:
            busy[0] -= 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 0))]

    monkeypatch.setattr(policy.socket, "getaddrinfo", getaddrinfo)
    timers = [{"url": f"https://h{i % 40}.example/hook/", "delay_seconds": 600} for i in range(1000)]
    started = time.monotonic()
    answer = client.post("/timers/batch", json={"timers": timers})
    elapsed = time.monotonic() - started
    assert answer.status_code == 201, answer.text
    assert sorted(lookups) == sorted(f"h{i}.example" for i in range(40)), "a name was looked up more than once"
    assert 1 < most[0] <= policy.LOOKUPS_AT_ONCE, (most, elapsed)  # in parallel, bounded (serially: 40 x 0.2 s)
    too_many = client.post("/timers/batch", json={"timers": timers + timers[:1]})
    assert too_many.status_code == 422 and "at most 1000" in json.dumps(too_many.json()), too_many.text


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
