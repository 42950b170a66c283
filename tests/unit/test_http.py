"""Retry behaviour of courier.http, driven by httpx.MockTransport (logic only, no sockets)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from courier.http import RetriesExhausted, RetryPolicy, arequest, parse_retry_after, request, settings_from_connection

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("100000", 300.0),
        (format_datetime(NOW + timedelta(seconds=42), usegmt=True), 42.0),
        (format_datetime(NOW - timedelta(seconds=42), usegmt=True), 0.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, 300.0, now=NOW) == expected


def test_backoff_grows_and_is_capped_with_jitter() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=8.0)
    rng = random.Random(1)
    delays = [policy.delay(n, None, rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 8.0


def test_retry_after_overrides_backoff() -> None:
    response = httpx.Response(429, headers={"Retry-After": "3"})
    assert RetryPolicy(backoff=100.0).delay(1, response) == 3.0


def _transport(statuses: list[int | type[Exception]], seen: list[httpx.Request]) -> httpx.MockTransport:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        outcome = statuses[min(len(seen), len(statuses)) - 1]
        if isinstance(outcome, type):
            raise outcome("boom", request=req)
        headers = {"Retry-After": "0.01"} if outcome == 429 else {}
        return httpx.Response(outcome, headers=headers, text=f"answer {len(seen)}")

    return httpx.MockTransport(handler)


def test_retries_connect_errors_429_and_5xx_then_succeeds() -> None:
    seen: list[httpx.Request] = []
    sleeps: list[float] = []
    client = httpx.Client(transport=_transport([httpx.ConnectError, 429, 503, 200], seen), base_url="http://x")
    response = request(client, "GET", "/r", RetryPolicy(attempts=5, backoff=0.001), sleep=sleeps.append)
    assert response.status_code == 200
    assert len(seen) == 4
    assert sleeps[1] == pytest.approx(0.01)  # the 429's Retry-After


def test_client_errors_are_not_retried() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=_transport([404, 200], seen), base_url="http://x")
    assert request(client, "GET", "/r", sleep=lambda s: None).status_code == 404
    assert len(seen) == 1


def test_exhausted_retries_raise_with_last_answer() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=_transport([500], seen), base_url="http://x")
    with pytest.raises(RetriesExhausted, match="after 3 attempt") as info:
        request(client, "GET", "/r", RetryPolicy(attempts=3, backoff=0.001), sleep=lambda s: None)
    assert len(seen) == 3
    assert info.value.response is not None and info.value.response.status_code == 500


async def test_async_request_retries_the_same_way() -> None:
    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(transport=_transport([502, 429, 200], seen), base_url="http://x") as client:
        response = await arequest(client, "GET", "/r", RetryPolicy(attempts=4, backoff=0.001))
    assert response.status_code == 200 and len(seen) == 3


class _Conn:
    def __init__(self, **kw: object) -> None:
        self.host = kw.get("host")
        self.schema = kw.get("schema")
        self.port = kw.get("port")
        self.login = kw.get("login")
        self.password = kw.get("password")
        self.extra_dejson = kw.get("extra", {})


def test_settings_from_connection() -> None:
    basic = settings_from_connection(_Conn(host="api.example.com", schema="https", port=8443, login="u", password="p"))
    assert basic.base_url == "https://api.example.com:8443" and basic.auth == ("u", "p")
    token = settings_from_connection(_Conn(host="http://h:1/base/", password="t0k", extra={"timeout": 5}))
    assert token.base_url == "http://h:1/base" and token.headers["Authorization"] == "Bearer t0k"
    assert token.auth is None and token.timeout == 5.0
