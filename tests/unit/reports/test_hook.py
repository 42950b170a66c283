"""Report API answers without I/O (``reports/hook.py``): tickets, the not-ready marker, Retry-After, failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from courier.reports.hook import ReportApiError, ReportState, classify, parse_ticket


def _r(status: int, text: str = "", headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, text=text, headers=headers or {})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"ticket_id": "abc"}', "abc"),
        ('{"ticketId": "t-2"}', "t-2"),
        ('{"id": 42}', "42"),
        ('{"request_id": "r9", "other": 1}', "r9"),
        ("plain-ticket-77\n", "plain-ticket-77"),
        ('"quoted"', "quoted"),
    ],
)
def test_ticket_from_each_form(body: str, expected: str) -> None:
    assert parse_ticket(_r(200, body)) == expected


@pytest.mark.parametrize("body", ["", '{"nothing": 1}', "<html>oops</html>", "two words"])
def test_unusable_ticket_answers_are_errors(body: str) -> None:
    with pytest.raises(ReportApiError):
        parse_ticket(_r(200, body))


def test_ticket_request_error_status_is_an_error() -> None:
    with pytest.raises(ReportApiError, match="HTTP 400"):
        parse_ticket(_r(400, "bad"))


@pytest.mark.parametrize("status", [200, 202, 425, 503])
@pytest.mark.parametrize("text", ["report is not ready", "Report Is Not Ready yet", "error: REPORT IS NOT READY."])
def test_not_ready_marker_variants(status: int, text: str) -> None:
    assert classify(_r(status, text)).state is ReportState.NOT_READY


def test_custom_marker() -> None:
    assert classify(_r(202, "still cooking"), marker="still cooking").state is ReportState.NOT_READY
    assert classify(_r(200, "still cooking")).state is ReportState.READY


def test_ready_carries_the_body() -> None:
    answer = classify(_r(200, "a,b\n1,2\n"))
    assert answer.state is ReportState.READY and answer.body == b"a,b\n1,2\n"


def test_unknown_ticket_fails() -> None:
    answer = classify(_r(404, "nope"))
    assert answer.state is ReportState.FAILED and "404" in answer.message


def test_429_with_retry_after_seconds() -> None:
    answer = classify(_r(429, "slow down", {"Retry-After": "17"}))
    assert answer.state is ReportState.NOT_READY and answer.retry_after == 17.0


def test_429_with_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    answer = classify(_r(429, "slow down", {"Retry-After": when}))
    assert answer.state is ReportState.NOT_READY
    assert answer.retry_after is not None and 25 <= answer.retry_after <= 30


def test_retry_after_is_clamped() -> None:
    assert classify(_r(503, "report is not ready", {"Retry-After": "99999"}), max_retry_after=120).retry_after == 120


def test_other_server_errors_fail() -> None:
    assert classify(_r(500, "boom")).state is ReportState.FAILED
