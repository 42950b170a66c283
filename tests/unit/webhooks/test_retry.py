"""One retry rule: webhook sends (timers, job events) and the connection-based HTTP clients retry the same
answers (#28: ``http.py`` retried 500/502/503/504, ``timers/rules.py`` every 5xx)."""

from __future__ import annotations

import httpx
import pytest

from courier.http import RetriesExhausted, RetryPolicy, request
from courier.timers.rules import Status, decide
from courier.webhooks.retry import retryable
from courier.webhooks.send import Answer


@pytest.mark.parametrize(
    ("code", "retried"),
    [
        *[(None, True), (408, True), (429, True), (500, True), (502, True), (503, True), (504, True)],
        *[(507, True), (520, True), (524, True), (501, False), (505, False), (400, False), (404, False)],
        *[(410, False), (301, False), (200, False), (204, False)],
    ],
)
def test_the_rule(code: int | None, retried: bool) -> None:
    assert retryable(code) is retried


def test_webhooks_and_http_clients_retry_exactly_the_same_statuses() -> None:
    for code in range(100, 600):
        webhook = decide(code, 1, (5.0,)).status is Status.RETRYING
        client = code in RetryPolicy().statuses
        assert webhook == client == (code >= 300 and retryable(code)), code
        assert Answer(code).retryable == webhook, code


@pytest.mark.parametrize(("code", "attempts"), [(501, 1), (505, 1), (507, 3), (503, 3), (404, 1)])
def test_http_client_retries_what_the_rule_says(code: int, attempts: int) -> None:
    calls: list[int] = []

    def answer(req: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(code)

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://api.test") as client:
        try:
            response = request(client, "GET", "/x", RetryPolicy(attempts=3, backoff=0.0), sleep=lambda _: None)
            assert response.status_code == code
        except RetriesExhausted:
            assert attempts == 3
    assert len(calls) == attempts
