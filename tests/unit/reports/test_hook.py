"""Report collector logic: answer classification, ticket parsing, CSV checks, skipped slots, trigger serialization."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from courier.reports.csvcheck import MalformedReport, check_csv
from courier.reports.hook import ReportApiError, ReportState, classify, parse_ticket
from courier.reports.slots import as_datetime, cron_expression, skipped_slots, superseded
from courier.reports.trigger import ReportReadyTrigger


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


def test_csv_check_counts_and_rejects() -> None:
    assert check_csv(b"a,b\n1,2\n3,4\n").rows == 2
    assert check_csv(b'a,b\n"x,y",2\n').columns == 2
    with pytest.raises(MalformedReport, match="row 2 has 3 columns, the header has 2"):
        check_csv(b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(MalformedReport, match="no header"):
        check_csv(b"")
    with pytest.raises(MalformedReport, match="UTF-8"):
        check_csv(b"a,b\n\xff\xfe,1\n")


def test_skipped_slots() -> None:
    t0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert skipped_slots("* * * * *", t0, t0 + timedelta(minutes=1)) == 0
    assert skipped_slots("* * * * *", t0, t0 + timedelta(minutes=4)) == 3
    assert skipped_slots("*/15 * * * *", t0, t0 + timedelta(hours=1)) == 3
    assert skipped_slots("* * * * *", None, t0) == 0


def test_trigger_serialize_round_trip() -> None:
    trigger = ReportReadyTrigger("T1", "report_api_default", 10.0, 1234.5, 1000.0)
    classpath, kwargs = trigger.serialize()
    assert classpath == "courier.reports.trigger.ReportReadyTrigger"
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)


def test_cron_expression_of_real_timetables() -> None:
    # The timetables the DAGs get (Task SDK ones from Airflow 3.2, airflow.timetables' in 3.1: tests/compat).
    from airflow.sdk import DAG

    assert cron_expression(DAG("cron_probe", schedule="* * * * *").timetable) == "* * * * *"
    assert cron_expression(DAG("cron_probe", schedule="*/15 6-18 * * 1-5").timetable) == "*/15 6-18 * * 1-5"
    assert cron_expression(DAG("delta_probe", schedule=timedelta(minutes=5)).timetable) is None
    assert cron_expression(DAG("manual_probe", schedule=None).timetable) is None


def test_lazy_context_values_become_plain_datetimes() -> None:
    import lazy_object_proxy

    when = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert as_datetime(lazy_object_proxy.Proxy(lambda: when)) == when
    assert type(as_datetime(lazy_object_proxy.Proxy(lambda: when))) is datetime
    assert as_datetime(lazy_object_proxy.Proxy(lambda: None)) is None
    assert as_datetime(None) is None


def test_superseded_slots() -> None:
    slot = datetime(2026, 11, 22, 11, 46, tzinfo=UTC)
    assert not superseded("* * * * *", slot, slot + timedelta(seconds=59))
    assert superseded("* * * * *", slot, slot + timedelta(minutes=1, seconds=1))  # 11:47 has passed
    assert not superseded("*/15 * * * *", slot, slot + timedelta(minutes=5))
    assert not superseded("* * * * *", None, slot)
