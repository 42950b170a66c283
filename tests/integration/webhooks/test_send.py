"""A webhook answer cannot exhaust the sender's memory (security review #23, H1).

A real receiver on loopback answers every POST ``200`` with ``Content-Encoding: gzip`` and a gzip bomb:
~10 MB of deflate blocks of zeros that inflate to ~10 GiB, streamed as it is generated (one 1 MiB-of-zeros
block, compressed once, repeated). The dispatcher must record the attempt while its resident memory grows by
a small fraction of the inflated size. A watchdog aborts the bomb's connection once the process has grown by
:data:`ABORT_GROWTH`, so a sender that inflates and buffers the answer fails the test without taking the
machine's memory with it.
"""

from __future__ import annotations

import asyncio
import struct
import threading
import time
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from courier.timers.dispatcher import Dispatcher, DispatcherSettings
from courier.timers.models import NewTimer, new_id
from courier.timers.store import TimerStore

pytestmark = pytest.mark.timeout(120)

MIB = 1 << 20
INFLATED_MIB = 10 * 1024  # ~10 GiB of zeros once inflated, ~10 MB on the wire
MAX_GROWTH = 64 * MIB  # what the dispatcher may grow by while it sends and records the attempt
ABORT_GROWTH = 512 * MIB  # the watchdog cuts the bomb here (a sender that buffers it is failing by then)


def _rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


class GzipBomb:
    """An HTTP/1.1 server on 127.0.0.1 answering 200 + a gzip bomb of ``inflated_mib`` MiB of zeros."""

    def __init__(self, inflated_mib: int) -> None:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        self.block = packer.compress(bytes(MIB)) + packer.flush(zlib.Z_FULL_FLUSH)  # same bytes every time
        self.end = packer.flush(zlib.Z_FINISH)
        self.inflated_mib = inflated_mib
        self.length = 10 + len(self.block) * inflated_mib + len(self.end) + 8
        self.requests = 0
        self.sent = 0  # compressed bytes written
        self.aborted = False
        self.cut = False  # the watchdog stopped it
        self._writers: set[asyncio.StreamWriter] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length")
                ),
                0,
            )
            await reader.readexactly(length)
            self.requests += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                + f"Content-Length: {self.length}\r\nConnection: close\r\n\r\n".encode()
            )
            writer.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
            crc = 0
            zeros = bytes(MIB)
            for _ in range(self.inflated_mib):
                if self.aborted:
                    return
                writer.write(self.block)
                self.sent += len(self.block)
                crc = zlib.crc32(zeros, crc)
                await writer.drain()
            writer.write(self.end + struct.pack("<II", crc, (self.inflated_mib * MIB) & 0xFFFFFFFF))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: what a bounded reader does
        finally:
            self._writers.discard(writer)
            writer.close()

    def cut_off(self) -> None:
        self.cut = True
        self.abort()

    def abort(self) -> None:
        self.aborted = True
        for writer in list(self._writers):
            writer.transport.abort()


@asynccontextmanager
async def _bomb_server(bomb: GzipBomb) -> AsyncIterator[str]:
    server = await asyncio.start_server(bomb.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hooks/"
    finally:
        bomb.abort()
        server.close()
        await server.wait_closed()


def _row(url: str, timer_id: str) -> dict[str, object]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        row = conn.execute("SELECT status, attempts FROM courier_timers WHERE id = %s", (timer_id,)).fetchone()
        attempts = conn.execute(
            "SELECT status_code, error FROM courier_timer_attempts WHERE timer_id = %s", (timer_id,)
        ).fetchall()
    assert row is not None
    return {**row, "attempt_log": attempts}


async def test_gzip_bomb_answer_is_not_inflated_and_the_attempt_is_recorded(
    courier_db: str, webhook_secret: str
) -> None:
    bomb = GzipBomb(INFLATED_MIB)
    loop = asyncio.get_running_loop()
    baseline = _rss()
    peak = baseline
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.wait(0.01):
            peak = max(peak, _rss())
            if peak - baseline > ABORT_GROWTH:
                loop.call_soon_threadsafe(bomb.cut_off)
                return

    watchdog = threading.Thread(target=watch, name="bomb-watchdog")
    watchdog.start()
    try:
        async with _bomb_server(bomb) as url:
            timer = NewTimer(new_id(), url, datetime.now(UTC) + timedelta(seconds=0.3), {"n": 1}, {}, None, None)
            await asyncio.to_thread(TimerStore(courier_db).create, [timer])
            settings = DispatcherSettings(secret=webhook_secret, allow_private=True, retry_schedule=(), timeout=60)
            dispatcher = Dispatcher(courier_db, settings)
            task = asyncio.create_task(dispatcher.run())
            try:
                deadline = time.monotonic() + 90
                while (await asyncio.to_thread(_row, courier_db, timer.id))["status"] not in ("delivered", "failed"):
                    assert not bomb.cut, f"the sender grew by more than {ABORT_GROWTH // MIB} MiB: bomb cut off"
                    assert time.monotonic() < deadline, "the attempt was never recorded"
                    await asyncio.sleep(0.05)
            finally:
                dispatcher.stop()
                await asyncio.wait_for(task, 30)
    finally:
        stop.set()
        watchdog.join()
    row = await asyncio.to_thread(_row, courier_db, timer.id)
    growth = peak - baseline
    assert not bomb.cut, f"the sender grew by {growth // MIB} MiB reading the answer"
    assert row["status"] == "delivered" and row["attempts"] == 1, row
    assert row["attempt_log"] == [{"status_code": 200, "error": None}], row
    assert bomb.requests == 1
    assert growth < MAX_GROWTH, f"the sender grew by {growth / MIB:.0f} MiB for a {INFLATED_MIB} MiB answer"
