"""Request bodies over real HTTP (uvicorn on loopback): nothing is read before the caller is authenticated and
authorized, every body has a limit enforced while it is read, and the request models' limits and strict types."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"
HUGE = 200 * 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "courierboundary"


class Counted:
    """ASGI wrapper counting the body bytes the wrapped app took from the server (its ``receive`` calls)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def counting() -> Any:
            message = await receive()
            self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


@contextmanager
def served(app: FastAPI) -> Iterator[tuple[str, Counted]]:
    """``app`` mounted at /courier (as Airflow's API server mounts it), served by uvicorn on loopback."""
    from courier.demo.server import serve_in_thread

    counted = Counted(app)
    host = FastAPI()
    host.mount("/courier", counted)
    with serve_in_thread(host) as url:
        yield url, counted


@dataclass
class Sent:
    status: int
    body: bytes
    sent: int
    seconds: float


def stream_request(url: str, path: str, headers: dict[str, str], body: Iterator[bytes], limit: float = 60) -> Sent:
    """Send a request over a plain socket, body piece by piece, and stop sending as soon as an answer arrives
    (unlike an HTTP client, which sends the whole body first). Return the answer and how much was sent."""
    parts = urlsplit(url)
    started = time.monotonic()
    sock = socket.create_connection((parts.hostname, parts.port))
    try:
        head = [f"POST {path} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        for piece in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(piece)
            assert time.monotonic() - started < limit, "the server neither answered nor stopped reading"
        select.select([sock], [], [], 10)
        received = b""
        sock.settimeout(10)
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            if not data:
                break
            received += data
        head_text, _, rest = received.partition(b"\r\n\r\n")
        status = int(head_text.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head_text.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        while len(rest) < length:
            data = sock.recv(65536)
            if not data:
                break
            rest += data
        return Sent(status, rest, sent, time.monotonic() - started)
    finally:
        sock.close()


def multipart(total: int, chunked: bool) -> tuple[dict[str, str], Iterator[bytes]]:
    """Headers and body pieces of a multipart upload whose file makes the body ``total`` bytes."""
    opening = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
    else:
        headers["Content-Length"] = str(total)

    def pieces() -> Iterator[bytes]:
        filler = b"x" * CHUNK
        left = total - len(opening) - len(closing)
        raw: list[bytes] = [opening]
        while left > 0:
            raw.append(filler[: min(CHUNK, left)])
            left -= CHUNK
        raw.append(closing)
        for piece in raw:
            yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
        if chunked:
            yield b"0\r\n\r\n"

    return headers, pieces()


def test_anonymous_upload_is_answered_401_before_its_body_is_read() -> None:
    from airflow.api_fastapi.app import init_auth_manager

    from courier.api.app import create_app

    init_auth_manager()
    with served(create_app()) as (url, app):
        headers, body = multipart(HUGE, chunked=False)
        answer = stream_request(url, "/courier/jobs/files", headers, body)
    assert answer.status == 401, answer.body
    assert b'"unauthenticated"' in answer.body
    assert app.read < 64 * 1024, f"the app read {app.read} bytes of an anonymous upload"
    # what the client could send is what the kernel's socket buffers and uvicorn's read-ahead take: a few MB
    assert answer.sent < 16 * 1024 * 1024, f"{answer.sent} bytes were sent before the 401"


@pytest.fixture
def admin_server(
    courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Counted, TestClient]]:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    app = api_app("admin")
    with served(app) as (url, counted), TestClient(app) as client:
        yield url, counted, client


def _stored(tmp_path: Path, courier_db: str) -> tuple[list[Path], int]:
    files = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    with psycopg.connect(courier_db) as conn:
        rows = conn.execute("SELECT count(*) FROM courier_job_files").fetchone()
    return files, int(rows[0]) if rows else -1


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_upload_over_the_limit_is_413_early_and_stores_nothing(
    admin_server: tuple[str, Counted, TestClient],
    courier_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunked: bool,
) -> None:
    url, app, _ = admin_server
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_MAX_UPLOAD_BYTES", str(1024 * 1024))
    headers, body = multipart(HUGE, chunked=chunked)
    answer = stream_request(url, "/courier/jobs/files", headers, body)
    assert answer.status == 413, answer.body
    assert b"job_max_upload_bytes (1048576 bytes)" in answer.body
    limit_read = 1024 * 1024 + 64 * 1024 + 256 * 1024  # the limit, multipart's allowance, one message past it
    assert app.read <= (limit_read if chunked else 0), f"the app read {app.read} bytes"
    assert answer.sent < 24 * 1024 * 1024, f"{answer.sent} bytes were sent before the 413"
    assert _stored(tmp_path, courier_db) == ([], 0)


def test_upload_within_the_limit_is_stored(
    admin_server: tuple[str, Counted, TestClient], courier_db: str, tmp_path: Path
) -> None:
    url, _, _ = admin_server
    headers, body = multipart(300 * 1024, chunked=True)
    answer = stream_request(url, "/courier/jobs/files", headers, body)
    assert answer.status == 201, answer.body
    files, rows = _stored(tmp_path, courier_db)
    assert len(files) == 1 and rows == 1


@pytest.fixture
def anonymous() -> TestClient:
    from airflow.api_fastapi.app import init_auth_manager

    from courier.api.app import create_app

    init_auth_manager()
    return TestClient(create_app())


@pytest.mark.parametrize("path", ["/timers", "/timers/batch", "/jobs", "/jobs/batch", "/stats"])
def test_anonymous_json_post_is_401_without_its_body_parsed(anonymous: TestClient, path: str) -> None:
    answer = anonymous.post(path, content=b'{"not json', headers={"Content-Type": "application/json"})
    assert answer.status_code == 401, answer.text  # not 400: the malformed body was never parsed
    assert answer.json()["detail"][0]["type"] == "unauthenticated"


def test_viewer_json_post_is_403_without_its_body_parsed(courier_db: str) -> None:
    with TestClient(api_app("viewer")) as viewer:
        answer = viewer.post("/timers", content=b"[[[", headers={"Content-Type": "application/json"})
    assert answer.status_code == 403, answer.text


@pytest.fixture
def client(
    courier_db: str, webhook_secret: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forget_limits: object
) -> Iterator[TestClient]:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    with TestClient(api_app("admin")) as test_client:
        yield test_client


def _count(db: str, table: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else -1


def test_json_body_over_its_limit_is_413_naming_it(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__API_MAX_BODY_BYTES", "2000")
    body = {"url": TARGET, "delay_seconds": 60, "payload": "x" * 3000}
    declared = client.post("/timers", json=body)
    assert declared.status_code == 413, declared.text
    assert declared.json()["detail"][0] == {
        "loc": ["body"],
        "msg": "the request body is larger than [courier] api_max_body_bytes (2000 bytes)",
        "type": "too_large",
    }

    def pieces() -> Iterator[bytes]:  # no Content-Length: cut off while reading
        yield b'{"timers": ['
        for _ in range(100):
            yield b'{"url": "%s", "delay_seconds": 60},' % TARGET.encode()
        yield b'{"url": "%s", "delay_seconds": 60}]}' % TARGET.encode()

    streamed = client.post("/timers/batch", content=pieces(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413 and "api_max_body_bytes" in streamed.text, streamed.text
    assert _count(courier_db, "courier_timers") == 0
    assert client.post("/timers", json={**body, "payload": "small"}).status_code == 201
    monkeypatch.setenv("AIRFLOW__COURIER__API_MAX_BODY_BYTES", "4000")  # the limit is reused, but follows a change
    assert client.post("/timers", json=body).status_code == 201


def test_json_body_needs_a_json_content_type(client: TestClient) -> None:
    answer = client.post("/timers", content=b'{"url": "http://e.com/", "delay_seconds": 1}')
    assert answer.status_code == 415 and answer.json()["detail"][0]["loc"] == ["header", "content-type"]
    empty = client.post("/timers", content=b"", headers={"Content-Type": "application/json"})
    assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": TARGET, "delay_seconds": True}, "delay_seconds"),
        ({"url": TARGET, "delay_seconds": False}, "delay_seconds"),
        ({"url": TARGET, "delay_seconds": "60"}, "delay_seconds"),
        ({"url": TARGET, "delay_seconds": 60, "expire_after_seconds": True}, "expire_after_seconds"),
        ({"url": TARGET, "fire_at": int(time.time()) + 600}, "fire_at"),  # epoch seconds are not RFC 3339
    ],
)
def test_numbers_are_numbers(client: TestClient, courier_db: str, body: dict[str, Any], field: str) -> None:
    answer = client.post("/timers", json=body)
    assert answer.status_code == 422, answer.text
    assert any(field in e["loc"] for e in answer.json()["detail"]), answer.json()
    batch = client.post("/timers/batch", json={"timers": [body]})
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"][:3] == ["body", "timers", 0], batch.text
    assert _count(courier_db, "courier_timers") == 0


def test_stats_refuse_booleans_as_values(client: TestClient, courier_db: str) -> None:
    answer = client.post("/stats", json=[{"name": "a", "value": True}])
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", 0, "value"], answer.text


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({f"X-H{i}": "v" for i in range(33)}, "at most 32"),
        ({"X-Big": "v" * 9000}, "at most 8192"),
    ],
)
def test_timer_headers_are_bounded(client: TestClient, courier_db: str, headers: dict[str, str], message: str) -> None:
    answer = client.post("/timers", json={"url": TARGET, "delay_seconds": 60, "headers": headers})
    assert answer.status_code == 422, answer.text
    item = answer.json()["detail"][0]
    assert item["loc"][:2] == ["body", "headers"] and message in item["msg"], item
    assert _count(courier_db, "courier_timers") == 0


def test_job_params_are_bounded(client: TestClient, courier_db: str) -> None:
    answer = client.post("/jobs", json={"files_to_process": ["a.csv"], "params": {"blob": "x" * 70_000}})
    assert answer.status_code == 422, answer.text
    item = answer.json()["detail"][0]
    assert item["loc"] == ["body", "params"] and "at most 65536" in item["msg"], item
    too_long = client.post("/jobs", json={"files_to_process": ["a" * 1025]})
    assert too_long.status_code == 422 and too_long.json()["detail"][0]["loc"] == ["body", "files_to_process", 0]
    assert _count(courier_db, "courier_jobs") == 0


def test_series_range_and_tag_sets_are_bounded(client: TestClient) -> None:
    wide = client.get(
        "/stats/series", params={"name": "a", "from": "2026-11-01T00:00:00Z", "to": "2026-11-03T00:00:01Z"}
    )
    assert wide.status_code == 422 and "48 hours" in wide.json()["detail"][0]["msg"], wide.text
    events = [{"name": "many", "value": 1, "tags": {"host": f"h{i}"}} for i in range(51)]
    assert client.post("/stats", json=events).status_code == 202
    many = client.get("/stats/series", params={"name": "many"})
    assert many.status_code == 422, many.text
    assert many.json()["detail"][0]["loc"] == ["query", "tag"] and "more than 50 tag sets" in many.text
    narrowed = client.get("/stats/series", params={"name": "many", "tag": "host:h7"})
    assert narrowed.status_code == 200 and len(narrowed.json()["series"]) == 1
    filters = client.get("/stats/series", params={"name": "many", "tag": [f"k{i}:v" for i in range(17)]})
    assert filters.status_code == 422, filters.text


@pytest.mark.parametrize("kind", ["timers", "jobs"])
def test_cancel_is_a_state_change_that_keeps_the_record(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    if kind == "timers":
        made = client.post("/timers", json={"url": TARGET, "delay_seconds": 600})
        object_id = made.json()["id"]
    else:
        from courier.jobs import start

        monkeypatch.setattr(start, "wake", lambda now=None: False)  # no Airflow scheduler here
        pushed = client.post("/jobs/files", files={"file": ("a.csv", b"x\n")})
        made = client.post("/jobs", json={"files_to_process": [pushed.json()["file_id"]]})
        object_id = made.json()["job_id"]
    assert made.status_code in (201, 202), made.text
    cancelled = client.post(f"/{kind}/{object_id}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    kept = client.get(f"/{kind}/{object_id}")
    assert kept.status_code == 200 and kept.json()["status"] == "cancelled"
    again = client.post(f"/{kind}/{object_id}/cancel")
    assert again.status_code == 409
    gone = client.delete(f"/{kind}/{object_id}")  # no DELETE: nothing is deleted
    assert gone.status_code == 405 and gone.headers["allow"] == "GET", gone.text
