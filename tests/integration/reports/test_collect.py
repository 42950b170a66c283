"""Report collection against the demo report server on loopback, real PostgreSQL and the S3 protocol."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from courier.demo import report_api
from courier.demo.app import create_app
from courier.demo.server import serve_in_thread
from courier.http import RetriesExhausted, RetryPolicy
from courier.reports.api import Collection, list_collections
from courier.reports.csvcheck import MalformedReport
from courier.reports.hook import ReportApiHook, ReportState
from courier.reports.operators import CollectReportOperator, ReportNotCollected
from courier.reports.store import TaskKey, TicketStore
from courier.reports.storing import store_report
from courier.reports.trigger import ReportReadyTrigger
from tests.helpers import first_event, rebuilt, s3_client


@pytest.fixture
def report_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    report_api.reset()
    with serve_in_thread(create_app(["courier.demo.report_api"])) as url:
        monkeypatch.setenv("AIRFLOW_CONN_REPORT_API_DEFAULT", url)
        configure(url, heavy_load="off", generation_delay=0)
        yield url


def configure(url: str, **changes: Any) -> None:
    httpx.post(f"{url}/_demo/reports/config", json=changes, timeout=5).raise_for_status()


def stats(url: str) -> dict[str, Any]:
    return dict(httpx.get(f"{url}/_demo/reports/stats", timeout=5).json())


async def _run_trigger(ticket: str, poll: float, timeout: float = 30) -> dict[str, Any]:
    trigger = ReportReadyTrigger(ticket, "report_api_default", poll, time.time() + timeout, time.time())
    event = await anext(trigger.run())
    return dict(event.payload)


async def test_not_ready_for_several_polls_then_ready(report_server: str) -> None:
    configure(report_server, generation_delay=1.2)
    ticket = ReportApiHook().request_ticket()
    event = await _run_trigger(ticket, poll=0.3)
    assert event["status"] == "success" and event["ticket_id"] == ticket
    assert event["polls"] >= 4  # ~1.2 s of "not ready" at 0.3 s intervals
    assert event["waited"] >= 1.2
    assert stats(report_server)["requests"] == 1


@pytest.mark.parametrize("load_status", [429, 503])
async def test_retry_after_under_load_is_honoured(report_server: str, load_status: int) -> None:
    configure(report_server, heavy_load="on", load_status=load_status, retry_after=1)
    ticket = ReportApiHook().request_ticket()

    async def end_load() -> None:
        await asyncio.sleep(2.2)
        await asyncio.to_thread(configure, report_server, heavy_load="off")

    ender = asyncio.create_task(end_load())
    event = await _run_trigger(ticket, poll=0.1)
    await ender
    assert event["status"] == "success"
    # a 0.1 s poll would have polled ~20 times; Retry-After: 1 limits it to ~3-4
    assert 2 <= event["polls"] <= 5, event


def test_repeated_500s_are_retried_then_fail_clearly(report_server: str) -> None:
    hook = ReportApiHook(retry_policy=RetryPolicy(attempts=3, backoff=0.01))
    ticket = hook.request_ticket()
    configure(report_server, fail_status=500)
    before = stats(report_server)["polls"]
    with pytest.raises(RetriesExhausted, match=r"failed after 3 attempt\(s\): HTTP 500"):
        hook.fetch(ticket)
    assert stats(report_server)["polls"] - before == 3


async def test_unknown_ticket_is_an_error_event(report_server: str) -> None:
    event = await _run_trigger("NO-SUCH-TICKET", poll=0.1)
    assert event["status"] == "error" and event["reason"] == "failed" and "404" in event["message"]


async def test_deadline_gives_a_timeout_event(report_server: str) -> None:
    configure(report_server, generation_delay=60)
    ticket = ReportApiHook().request_ticket()
    event = await _run_trigger(ticket, poll=0.2, timeout=0.7)
    assert event["status"] == "error" and event["reason"] == "timeout" and "still not ready" in event["message"]


def test_malformed_report_is_rejected_with_nothing_stored(report_server: str, tmp_path: Path) -> None:
    configure(report_server, malformed=True)
    hook = ReportApiHook()
    answer = hook.fetch(hook.request_ticket())
    assert answer.state is ReportState.READY
    with pytest.raises(MalformedReport, match="columns"):
        store_report(tmp_path.as_uri(), "report_collector", "2026-11-22T10:00:00+00:00", "T1", answer.body)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_s3_holds_exactly_the_bytes_the_server_sent(report_server: str, s3_server: str, s3_bucket: str) -> None:
    hook = ReportApiHook()
    ticket = hook.request_ticket()
    answer = hook.fetch(ticket)
    sent = httpx.get(f"{report_server}/get_report/{ticket}").content
    stored = store_report(
        f"s3://{s3_bucket}/base", "report_collector", "2026-11-22T10:00:00+00:00", ticket, answer.body
    )
    key = f"base/reports/report_collector/2026-11-22T10:00:00+00:00/{ticket}.csv"
    assert stored["path"].endswith(key)
    assert s3_client(s3_server).get_object(Bucket=s3_bucket, Key=key)["Body"].read() == sent
    assert stored["rows"] == 20 and stored["bytes"] == len(sent)


def test_pending_ticket_survives_for_a_retry(courier_db: str) -> None:
    store = TicketStore()
    key = TaskKey("report_collector", "run-1", "collect_report")
    assert store.pending(key) is None
    store.add(key, "T000001")
    assert store.pending(key) == "T000001"  # what a retry of the same task instance finds
    store.finish(key, "T000001", "failed", message="malformed")
    assert store.pending(key) is None  # a failed ticket is not resumed: the retry asks again


async def test_the_trigger_only_waits_and_the_resumed_task_stores_the_report(
    report_server: str, courier_db: str, tmp_path: Path
) -> None:
    """The trigger writes nothing; its event (through JSON, as Airflow stores it) is all the resumed task
    needs to download, check and store the report on the worker."""
    configure(report_server, generation_delay=0.6)
    op = CollectReportOperator(task_id="collect_report", storage_base=tmp_path.as_uri(), poll_interval=0.2)
    key = TaskKey("report_collector", "run-ready", "collect_report")
    ticket = ReportApiHook().request_ticket()
    TicketStore().add(key, ticket)
    trigger = rebuilt(ReportReadyTrigger(ticket, "report_api_default", 0.2, time.time() + 30, time.time()))
    event = json.loads(json.dumps((await first_event(trigger, 30)).payload))
    assert event["status"] == "success" and event["ticket_id"] == ticket and "stored" not in event
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []  # the triggerer stored nothing
    stored = await asyncio.to_thread(op.execute_complete, _context(key.run_id), event)
    path = tmp_path / "reports" / "report_collector" / "2026-11-22T10:00:00+00:00" / f"{ticket}.csv"
    assert stored["path"] == path.as_uri() or stored["path"].endswith(str(path))
    assert path.read_bytes() == httpx.get(f"{report_server}/get_report/{ticket}").content
    assert _collection(key.run_id).status == "collected" and TicketStore().pending(key) is None


async def test_the_trigger_reads_the_start_of_a_ready_report_not_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """A ready answer is decided on its first bytes: the trigger closes the connection instead of downloading a
    large report that the resumed task downloads again (the triggerer moves no report bytes)."""
    from aiohttp import web

    chunk, chunks, sent = b"a,b\n" + b"1,2\n" * 255, 2000, []  # 1 KiB rows, a ~2 MB report

    async def get_report(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/csv"})
        await response.prepare(request)
        try:
            for _ in range(chunks):
                await response.write(chunk)
                sent.append(len(chunk))
                await asyncio.sleep(0.002)  # a report server that streams as it reads its store
        except (ConnectionResetError, RuntimeError):
            pass  # the client closed the connection: what this test wants
        return response

    app = web.Application()
    app.router.add_get("/get_report/{ticket}", get_report)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("AIRFLOW_CONN_REPORT_API_DEFAULT", f"http://127.0.0.1:{port}")
    try:
        event = await _run_trigger("t-big", poll=0.2)
        await asyncio.sleep(0.5)  # let the server notice the closed connection
    finally:
        await runner.cleanup()
    assert event["status"] == "success" and event["polls"] == 1
    assert sum(sent) < chunks * len(chunk) // 10, f"the trigger let the server send {sum(sent)} bytes"


async def test_a_malformed_report_is_rejected_on_resume_storing_nothing(
    report_server: str, courier_db: str, tmp_path: Path
) -> None:
    configure(report_server, malformed=True)
    op = CollectReportOperator(task_id="collect_report", storage_base=tmp_path.as_uri(), poll_interval=0.2)
    key = TaskKey("report_collector", "run-malformed", "collect_report")
    ticket = ReportApiHook().request_ticket()
    TicketStore().add(key, ticket)
    trigger = ReportReadyTrigger(ticket, "report_api_default", 0.2, time.time() + 30, time.time())
    event = dict((await first_event(trigger, 30)).payload)
    assert event["status"] == "success"  # ready: whether it is well formed is the worker's check
    with pytest.raises(ReportNotCollected, match="rejected, nothing stored"):
        await asyncio.to_thread(op.execute_complete, _context(key.run_id), event)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert _collection(key.run_id).status == "failed" and TicketStore().pending(key) is None


async def test_a_timeout_event_keeps_the_ticket_for_the_retry(report_server: str, courier_db: str) -> None:
    configure(report_server, generation_delay=60)
    op = CollectReportOperator(task_id="collect_report", poll_interval=0.2)
    key = TaskKey("report_collector", "run-timeout", "collect_report")
    ticket = ReportApiHook().request_ticket()
    TicketStore().add(key, ticket)
    event = await _run_trigger(ticket, poll=0.2, timeout=0.7)
    assert (event["status"], event["reason"]) == ("error", "timeout")
    with pytest.raises(ReportNotCollected, match="still not ready"):
        await asyncio.to_thread(op.execute_complete, _context(key.run_id), event)
    assert TicketStore().pending(key) == ticket and _collection(key.run_id).polls == event["polls"]


def _context(run_id: str) -> Any:
    """The parts of a task's context the collector reads (its task instance key and the run's slot)."""
    slot = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    ti = SimpleNamespace(dag_id="report_collector", run_id=run_id, task_id="collect_report", map_index=-1)
    return {"ti": ti, "dag_run": SimpleNamespace(logical_date=slot, run_after=slot)}


def _collection(run_id: str) -> Collection:
    items, _ = list_collections(run_id=run_id)
    assert len(items) == 1, items
    return items[0]


async def test_deferred_collection_records_polls_rows_and_bytes(
    report_server: str, courier_db: str, tmp_path: Path
) -> None:
    configure(report_server, generation_delay=1.0, rows=37)
    op = CollectReportOperator(task_id="collect_report", storage_base=tmp_path.as_uri(), poll_interval=0.2)
    key = TaskKey("report_collector", "run-deferred", "collect_report")
    ticket = ReportApiHook().request_ticket()
    TicketStore().add(key, ticket)
    trigger = ReportReadyTrigger(ticket, "report_api_default", 0.2, time.time() + 30, time.time())
    event = dict((await first_event(trigger, 30)).payload)
    result = await asyncio.to_thread(op.execute_complete, _context(key.run_id), event)

    served = stats(report_server)["polls"]
    body = httpx.get(f"{report_server}/get_report/{ticket}").content
    row = _collection(key.run_id)
    assert row.status == "collected" and row.ticket_id == ticket
    # the trigger's polls, and the resumed task's download (one more get_report)
    assert row.polls == event["polls"] + 1 == result["polls"] == served and row.polls >= 5  # ~1 s not ready / 0.2 s
    assert row.rows == 37 and row.size_bytes == len(body) == result["bytes"]
    assert row.path is not None and Path(row.path.removeprefix("file://")).stat().st_size == len(body)


def test_polls_of_a_try_that_timed_out_are_added_to_the_next_try(
    report_server: str, courier_db: str, tmp_path: Path
) -> None:
    configure(report_server, generation_delay=1.5, rows=5)
    op = CollectReportOperator(task_id="collect_report", storage_base=tmp_path.as_uri(), poll_interval=0.2)
    key = TaskKey("report_collector", "run-retried", "collect_report")
    hook = ReportApiHook()
    ticket = hook.request_ticket()
    TicketStore().add(key, ticket)
    started = time.time()
    with pytest.raises(ReportNotCollected, match="still not ready"):
        op._wait_here(_context(key.run_id), hook, ticket, started, started + 0.5)  # the first try gives up
    first = stats(report_server)["polls"]
    assert TicketStore().pending(key) == ticket and _collection(key.run_id).polls == first >= 2
    result = op._wait_here(_context(key.run_id), hook, ticket, time.time(), time.time() + 30)  # the retry resumes
    row = _collection(key.run_id)
    assert row.status == "collected" and row.polls == stats(report_server)["polls"] > first
    assert result["polls"] == row.polls - first  # the try's own count in XCom, the total in the table
    assert row.rows == 5 and row.size_bytes == len(httpx.get(f"{report_server}/get_report/{ticket}").content)


def test_a_failed_collection_records_its_polls_and_no_size(report_server: str, courier_db: str) -> None:
    op = CollectReportOperator(task_id="collect_report", poll_interval=0.2)
    key = TaskKey("report_collector", "run-failed", "collect_report")
    TicketStore().add(key, "T999999")  # a ticket the server does not know: 404 on the first poll
    with pytest.raises(ReportNotCollected, match="does not know"):
        op._wait_here(_context(key.run_id), ReportApiHook(), "T999999", time.time(), time.time() + 30)
    row = _collection(key.run_id)
    assert (row.status, row.polls, row.rows, row.size_bytes) == ("failed", 1, None, None)


@pytest.mark.parametrize(("triggered_by", "creator"), [("alice", "user:alice"), (None, "dag:report_collector")])
def test_a_ticket_belongs_to_the_user_who_triggered_the_run(
    report_server: str, courier_db: str, triggered_by: str | None, creator: str
) -> None:
    """Per object (README, Permissions): the collection of a run alice triggered is alice's; a scheduled run's
    is the DAG's, which only full access sees."""
    from airflow.sdk.exceptions import TaskDeferred

    op = CollectReportOperator(task_id="collect_report", poll_interval=0.2)
    context = _context("manual__owned")
    context["dag_run"].triggering_user_name = triggered_by
    context["dag"] = SimpleNamespace(timetable=None)  # triggered by hand: no schedule slots to count
    context["ti"].xcom_push = lambda **_: None
    with pytest.raises(TaskDeferred):
        op.execute(context)
    assert [c.run_id for c in list_collections(visible_to=creator)[0]] == ["manual__owned"]
    assert list_collections(visible_to="user:bob")[0] == []
