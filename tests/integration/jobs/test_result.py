"""The processor's ``result_url``: fetched from the processor's host only, credentials to it only, redirects off
it not followed, the body streamed to storage within a bound (security review #18, finding 3).

One real HTTP server on loopback plays the processor (``http://127.0.0.1:<port>``, needing a bearer token)
and, under the name ``localhost``, another host that records whatever reaches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse

from courier.http import HttpSettings
from courier.jobs.processor_client import client, fetch_result

pytestmark = pytest.mark.timeout(120)
TOKEN = "Bearer processor-token"
BIG = 50 * 1024 * 1024
BLOCK = bytes(range(256)) * 256  # 64 KiB


def _big() -> Iterator[bytes]:
    for _ in range(BIG // len(BLOCK)):
        yield BLOCK


class Site:
    def __init__(self) -> None:
        self.elsewhere: list[dict[str, Any]] = []  # requests that reached the other host (localhost)
        self.app = FastAPI()
        self.app.get("/results/{name}", response_model=None)(self.result)
        self.app.get("/steal")(self.steal)

    async def result(self, name: str, request: Request) -> Response:
        if request.headers.get("host", "").startswith("localhost"):
            return await self.steal(request)
        if request.headers.get("authorization") != TOKEN:
            return PlainTextResponse("no token", status_code=401)
        port = request.url.port
        if name == "small":
            return PlainTextResponse("file,bytes\na.csv,3\n")
        if name == "moved":
            return RedirectResponse("/results/small", status_code=302)
        if name == "away":
            return RedirectResponse(f"http://localhost:{port}/steal", status_code=302)
        return StreamingResponse(_big(), media_type="text/csv")

    async def steal(self, request: Request) -> Response:
        self.elsewhere.append(dict(request.headers))
        return PlainTextResponse("other host\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Site, str]]:
    from courier.demo.server import serve_in_thread

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    served = Site()
    with serve_in_thread(served.app) as url:
        yield served, url


def _settings(base: str, **extra: Any) -> HttpSettings:
    return HttpSettings(base_url=base, headers={"Authorization": TOKEN}, extra=extra)


async def _fetch(base: str, result_url: str, **extra: Any) -> str:
    async with client(_settings(base, **extra)) as http:
        return await fetch_result(http, result_url, "job_1")


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    return tmp_path / "store" / "jobs" / "job_1" / "report.csv"


async def test_result_on_another_host_is_refused_unless_allowed_and_never_gets_the_credentials(
    site: tuple[Site, str], stored: Path
) -> None:
    served, base = site
    other = base.replace("127.0.0.1", "localhost") + "/steal"
    with pytest.raises(ValueError, match=r"not on the processor's host '127\.0\.0\.1'"):
        await _fetch(base, other)
    assert served.elsewhere == [] and not stored.exists()
    assert await _fetch(base, other, allowed_hosts="localhost, files.example") == "jobs/job_1/report.csv"
    assert stored.read_bytes() == b"other host\n"
    assert len(served.elsewhere) == 1 and "authorization" not in served.elsewhere[0], served.elsewhere
    assert await _fetch(base, "/results/small") == "jobs/job_1/report.csv"  # its own host: with the token
    assert stored.read_bytes() == b"file,bytes\na.csv,3\n"


async def test_redirect_off_the_host_is_not_followed_and_one_on_it_is(site: tuple[Site, str], stored: Path) -> None:
    served, base = site
    with pytest.raises(ValueError, match=r"result URL http://localhost:\d+/steal is not on the processor's host"):
        await _fetch(base, "/results/away")
    assert served.elsewhere == [] and not stored.exists()
    await _fetch(base, f"{base}/results/moved")
    assert stored.read_bytes() == b"file,bytes\na.csv,3\n"


async def test_a_50_mb_result_is_streamed_to_storage_in_chunks_and_an_oversized_one_stores_nothing(
    site: tuple[Site, str], stored: Path
) -> None:
    _, base = site
    expected = hashlib.sha256(b"".join(_big())).hexdigest()
    tracemalloc.start()
    try:
        await _fetch(base, "/results/big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.stat().st_size == BIG
    assert await asyncio.to_thread(lambda: hashlib.file_digest(stored.open("rb"), "sha256").hexdigest()) == expected
    assert peak < 16 * 1024 * 1024, f"fetching held {peak / 2**20:.0f} MiB at once"
    stored.unlink()
    with pytest.raises(ValueError, match="over 1048576 bytes: not stored"):
        await _fetch(base, "/results/big", max_result_bytes=1024 * 1024)
    assert list(stored.parent.iterdir()) == [], "a partial result was left in storage"
