"""The REST client of ``courier up`` and the tests against a loopback server that drops connections, as the API
server does when its supervisor replaces a worker that died (a worker's open connections close unanswered)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from courier.runtime.airflow_api import READ_RETRIES, AirflowApi


class _Dropping(ThreadingHTTPServer):
    """Answers ``POST /auth/token``; drops the first ``drops`` requests to any other path, then answers 200."""

    def __init__(self, drops: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.drops = drops
        self.seen: list[str] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Dropping

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path == "/auth/token":
            body = json.dumps({"access_token": "t"}).encode()
        else:
            self.server.seen.append(f"{self.command} {self.path}")
            if self.server.drops > 0:
                self.server.drops -= 1
                self.close_connection = True  # no status line: the client sees the connection close unanswered
                return
            body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = _answer


@pytest.fixture
def dropping(request: pytest.FixtureRequest) -> Iterator[tuple[_Dropping, AirflowApi]]:
    server = _Dropping(drops=request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api = AirflowApi(f"http://127.0.0.1:{server.server_address[1]}", "admin", "pw", timeout=5)
    yield server, api
    api.close()
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("dropping", [READ_RETRIES], indirect=True)
def test_a_read_whose_connection_drops_is_sent_again(dropping: tuple[_Dropping, AirflowApi]) -> None:
    server, api = dropping
    answer = api.request("GET", "/api/v2/dags")
    assert answer.status_code == 200 and answer.json() == {"ok": True}
    assert server.seen == ["GET /api/v2/dags"] * (READ_RETRIES + 1)


@pytest.mark.parametrize("dropping", [READ_RETRIES + 1], indirect=True)
def test_a_read_gives_up_after_its_retries(dropping: tuple[_Dropping, AirflowApi]) -> None:
    server, api = dropping
    with pytest.raises(httpx.RemoteProtocolError):
        api.request("GET", "/api/v2/dags")
    assert len(server.seen) == READ_RETRIES + 1


@pytest.mark.parametrize("dropping", [1], indirect=True)
def test_a_change_is_never_sent_twice(dropping: tuple[_Dropping, AirflowApi]) -> None:
    server, api = dropping
    with pytest.raises(httpx.RemoteProtocolError):
        api.request("POST", "/api/v2/dags/x/dagRuns", json={"conf": {}})
    assert server.seen == ["POST /api/v2/dags/x/dagRuns"]
