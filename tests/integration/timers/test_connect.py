"""The webhook URL policy at connect time, and telling Courier's job events from timers (security review #18).

Names resolve through a fake DNS installed on the running loop's ``getaddrinfo`` (what aiohttp's threaded
resolver and a plain lookup both use); requests go over real sockets to a loopback listener that counts
every connection it gets. ``allow_private`` is false, so the listener on 127.0.0.1 is a refused target. A
connection to the fake public address never leaves the machine: the connect step refuses it.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohappyeyeballs
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from courier.timers.dispatcher import Dispatcher, DispatcherSettings
from courier.timers.models import NewTimer, new_id
from courier.timers.store import TimerStore
from tests.integration.timers.test_dispatch import _all_final, _running, _until

pytestmark = pytest.mark.timeout(120)
PUBLIC = "93.184.216.34"  # a public address: the policy passes it; the test network refuses to connect to it


class Listener:
    """A loopback TCP listener answering ``200`` and counting connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()


@asynccontextmanager
async def _listener() -> AsyncIterator[Listener]:
    listener = Listener()
    server = await asyncio.start_server(listener._serve, "127.0.0.1", 0)
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()


class FakeNetwork:
    """DNS answers per lookup of ``name`` (None: the lookup fails), and a record of every connect attempt."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str, answers: list[str | None]) -> None:
        self.name, self.answers = name, answers
        self.lookups = 0
        self.connects: list[list[str]] = []
        loop = asyncio.get_running_loop()
        real_lookup = loop.getaddrinfo
        real_connect = aiohappyeyeballs.start_connection

        async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            if host != self.name:
                return await real_lookup(host, port, *args, **kwargs)
            answer = self.answers[min(self.lookups, len(self.answers) - 1)]
            self.lookups += 1
            if answer is None:
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port or 0)))]

        async def start_connection(addr_infos: Any, *args: Any, **kwargs: Any) -> socket.socket:
            addresses = [info[4][0] for info in addr_infos]
            self.connects.append(addresses)
            if PUBLIC in addresses:
                raise OSError(errno.ENETUNREACH, "test network: the public address is unreachable")
            return await real_connect(addr_infos, *args, **kwargs)

        monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(aiohappyeyeballs, "start_connection", start_connection)


def _timer(url: str, payload: Any = None, timer_id: str | None = None) -> NewTimer:
    return NewTimer(timer_id or new_id(), url, datetime.now(UTC), payload, {}, None, None)


def _settings(secret: str, **overrides: Any) -> DispatcherSettings:
    return DispatcherSettings(secret=secret, allow_private=False, retry_schedule=(0.2,), **overrides)


async def test_rebinding_name_connects_only_to_the_checked_address(
    courier_db: str, webhook_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First lookup: a public address (passes); second: 127.0.0.1 (refused). Nothing may reach 127.0.0.1."""
    async with _listener() as listener:
        net = FakeNetwork(monkeypatch, "rebind.test", [PUBLIC, "127.0.0.1"])
        ((timer, _),) = TimerStore(courier_db).create([_timer(f"http://rebind.test:{listener.port}/hooks/")])
        async with _running(Dispatcher(courier_db, _settings(webhook_secret))):
            await _until(lambda: _all_final(courier_db), 20, "the timer to end")
        got = TimerStore(courier_db).get(timer.id)
    assert listener.connections == 0, "a webhook reached the refused loopback address"
    assert net.connects and all(addresses == [PUBLIC] for addresses in net.connects), net.connects
    assert got.status == "failed" and got.attempts == 2 and "unreachable" in (got.last_error or ""), got


async def test_failed_lookup_is_a_failed_attempt_and_a_later_private_answer_is_refused(
    courier_db: str, webhook_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lookup fails, then answers 127.0.0.1: the first attempt fails (retried), the second is refused."""
    async with _listener() as listener:
        FakeNetwork(monkeypatch, "flaky.test", [None, "127.0.0.1"])
        ((timer, _),) = TimerStore(courier_db).create([_timer(f"http://flaky.test:{listener.port}/hooks/")])
        async with _running(Dispatcher(courier_db, _settings(webhook_secret))):
            await _until(lambda: _all_final(courier_db), 20, "the timer to end")
        got = TimerStore(courier_db).get(timer.id)
    assert listener.connections == 0, "a webhook was sent although its name did not pass the policy"
    assert got.attempt_log is not None and len(got.attempt_log) == 2, got
    first, second = got.attempt_log
    assert first.status_code is None and "DNS lookup of 'flaky.test' failed" in (first.error or ""), first
    assert got.status == "failed" and "loopback address 127.0.0.1" in (second.error or ""), second


async def test_the_url_with_the_id_appended_is_the_one_checked(
    courier_db: str, webhook_secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``http://hooks.test`` is allowed; ``http://hooks.test`` + id (host ``hooks.testtmr_…``) is another host."""
    net = FakeNetwork(monkeypatch, "unused.test", ["127.0.0.1"])
    ((timer, _),) = TimerStore(courier_db).create([_timer("http://hooks.test")])
    async with _running(Dispatcher(courier_db, _settings(webhook_secret, allowed_hosts=("hooks.test",)))):
        await _until(lambda: _all_final(courier_db), 20, "the timer to end")
    got = TimerStore(courier_db).get(timer.id)
    assert got.status == "failed" and f"host 'hooks.test{timer.id}' is not in" in (got.last_error or ""), got
    assert net.connects == [], "a connection was attempted to a host the allow list does not name"


def _documented_job_events_secret(secret: str) -> str:
    """docs/timers.md: the job-event secret is whsec_ + base64(HMAC-SHA256(base64-decoded secret, "courier-job-event"))."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "whsec_" + base64.b64encode(hmac.new(key, b"courier-job-event", hashlib.sha256).digest()).decode()


async def test_a_job_event_forged_with_a_timer_is_told_apart_by_the_documented_check(
    courier_db: str, webhook_secret: str
) -> None:
    """A real completion event and a timer with the very same body, to one receiver: the job-event secret
    verifies the first only; webhook_secret (any Standard Webhooks receiver of timers) the second only."""
    from courier.jobs.callbacks import notify
    from courier.jobs.rules import Status
    from courier.jobs.store import Moved

    arrived: list[tuple[bytes, dict[str, str]]] = []

    async def receive(request: web.Request) -> web.Response:
        arrived.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook/{rest:.*}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/hook/"
    try:
        real_id = await asyncio.to_thread(notify, Moved("job_1", Status.SUCCESS, url), courier_db)
        assert real_id is not None
        forged_body = {"type": "job.success", "job_id": "job_1", "status": "success"}
        ((forged, _),) = TimerStore(courier_db).create([_timer(url, forged_body)])
        settings = DispatcherSettings(secret=webhook_secret, allow_private=True)
        async with _running(Dispatcher(courier_db, settings)):
            await _until(lambda: len(arrived) >= 2, 20, "both webhooks")
    finally:
        await runner.cleanup()
    by_id = {headers["webhook-id"]: (body, headers) for body, headers in arrived}
    job_events, timers = Webhook(_documented_job_events_secret(webhook_secret)), Webhook(webhook_secret)
    body, headers = by_id[real_id]
    assert job_events.verify(body, headers)["payload"] == forged_body
    with pytest.raises(WebhookVerificationError):
        timers.verify(body, headers)  # a timer receiver never takes a job event for one of its timers
    body, headers = by_id[forged.id]
    assert timers.verify(body, headers)["payload"] == forged_body  # timers: Standard Webhooks as before
    with pytest.raises(WebhookVerificationError):
        job_events.verify(body, headers)  # the forgery: same body, not a job event
