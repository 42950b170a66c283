"""Run settings never send the connection's credentials elsewhere (security review #18, finding 2).

Two real HTTP listeners on loopback: ``home`` is the connection's host (127.0.0.1), ``other`` a second one
reached as ``localhost`` (another host). Each records the headers of every request it gets.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from courier.demo.server import serve_in_thread
from courier.pages.batch import run_batch
from courier.pages.fanout import FanoutRequest, list_and_plan, merge
from courier.pages.snapshot import run_snapshot

TOKEN = "sekret-token"
API_KEY = "sekret-api-key"
SECRET_HEADERS = ("authorization", "x-api-key")


@dataclass
class Listener:
    url: str
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    redirect_to: str = ""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def leaked(self) -> list[tuple[str, str]]:
        return [(path, name) for path, headers in self.seen for name in SECRET_HEADERS if name in headers]


def _app(listener: Listener) -> FastAPI:
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST"])
    async def anything(path: str, request: Request) -> Response:
        listener.seen.append((f"/{path}", {k.lower(): v for k, v in request.headers.items()}))
        if path == "redirect":
            return RedirectResponse(listener.redirect_to, status_code=302)
        if path == "pages":
            return JSONResponse({"links": listener.links})
        if path.startswith("page/"):
            return JSONResponse({"data": [{"page": int(path.split("/")[1])}]})
        return JSONResponse({"data": [{"id": 1, "where": "data"}]})

    return app


@pytest.fixture
def listeners() -> Iterator[tuple[Listener, Listener]]:
    home, other = Listener(""), Listener("")
    with serve_in_thread(_app(home)) as home_url, serve_in_thread(_app(other)) as other_url:
        home.url = home_url
        other.url = other_url.replace("127.0.0.1", "localhost")  # the same loopback, another host name
        yield home, other


def _connect(monkeypatch: pytest.MonkeyPatch, home: Listener, **extra: Any) -> None:
    """``paged_api_default``: the home listener, a bearer token and an API-key header."""
    conn = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": home.port,
        "schema": "http",
        "password": TOKEN,
        "extra": {"headers": {"X-Api-Key": API_KEY}, **extra},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PAGED_API_DEFAULT", json.dumps(conn))


def _snapshot(endpoint: str) -> dict[str, Any]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return run_snapshot({"endpoint": endpoint}, "api_snapshot", start, start.replace(minute=15), start)


def _other_urls(other: Listener) -> list[str]:
    host_port = f"127.0.0.1:{other.port}"
    return [
        f"{other.url}/data",
        f"http://{host_port}/data",
        f"//{host_port}/data",
        f"http://127.0.0.1@{host_port}/data",
        f"%2F%2F{host_port}%2Fdata",
        f"/%2F{host_port}/data",
        f"\\\\{host_port}\\data",
        f"/\\{host_port}/data",
        f"http:{host_port}/data",
    ]


def test_an_absolute_endpoint_to_another_listener_is_refused_and_it_sees_nothing(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = listeners
    _connect(monkeypatch, home)
    for endpoint in _other_urls(other):
        with pytest.raises(ValueError, match=r"endpoint = .* is refused: give a path relative to the connection"):
            _snapshot(endpoint)
    assert other.seen == [] and home.seen == []
    assert not list(storage.rglob("*.csv"))  # nothing stored
    assert _snapshot("/data")["rows"] == 1  # a relative endpoint still works, with the credentials
    assert [p for p, _ in home.seen] == ["/data"] and home.leaked() == [("/data", n) for n in SECRET_HEADERS]


def test_an_absolute_links_endpoint_is_refused_before_any_request(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allow_other_hosts=True)
    for endpoint in _other_urls(other):
        request = FanoutRequest.from_params({"links_endpoint": endpoint})
        with pytest.raises(ValueError, match=r"links_endpoint = .* is refused"):
            list_and_plan(request, "paginated_fanout", "run-ssrf")
    assert other.seen == [] and home.seen == []


def test_a_connection_allowing_the_other_host_reaches_it_without_credentials(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allowed_hosts=["localhost"])
    assert _snapshot(f"{other.url}/data")["rows"] == 1
    assert [p for p, _ in other.seen] == ["/data"] and other.leaked() == []
    with pytest.raises(ValueError, match=r"allowed_hosts extra \(localhost\)"):
        _snapshot(f"http://127.0.0.2:{other.port}/data")  # a host it does not list


def test_page_links_to_another_host_are_fetched_without_credentials(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allow_other_hosts=True, allowed_hosts=["localhost"])  # other: loopback, listed
    home.links = ["/page/0", f"{other.url}/page/1", f"{other.url}/page/2"]
    request = FanoutRequest.from_params({})
    for batch in list_and_plan(request, "paginated_fanout", "run-links"):
        run_batch(batch["batch_path"], batch["out_path"])
    assert merge(request, "paginated_fanout", "run-links")["rows"] == 3
    assert sorted(p for p, _ in other.seen) == ["/page/1", "/page/2"] and other.leaked() == []
    assert sorted(home.leaked()) == sorted((p, n) for p in ("/pages", "/page/0") for n in SECRET_HEADERS)


@pytest.mark.parametrize("auth", ["token", "basic"])
def test_a_redirect_to_another_host_carries_no_credentials(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch, auth: str
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allowed_hosts=["localhost"])  # the other host is on loopback: listed
    if auth == "basic":
        conn = json.loads(os.environ["AIRFLOW_CONN_PAGED_API_DEFAULT"])
        monkeypatch.setenv("AIRFLOW_CONN_PAGED_API_DEFAULT", json.dumps({**conn, "login": "me"}))
    home.redirect_to = f"{other.url}/data"
    assert _snapshot("/redirect")["rows"] == 1
    assert [p for p, _ in home.seen] == ["/redirect"] and home.leaked() == [("/redirect", n) for n in SECRET_HEADERS]
    assert [p for p, _ in other.seen] == ["/data"] and other.leaked() == []


# ---------------------------------------------------------------- security review #23, M6: one address policy
@pytest.mark.parametrize("link", ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:{port}/page/1"])
def test_a_run_may_not_widen_where_requests_go(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch, link: str
) -> None:
    """A run conf with allow_other_hosts is refused, naming the connection extra; nothing is planned."""
    from airflow.exceptions import AirflowFailException

    from courier.params import fail_fast

    home, other = listeners
    _connect(monkeypatch, home)
    home.links = ["/page/0", link.format(port=other.port)]
    refused = pytest.raises(
        AirflowFailException, match=r"allow_other_hosts is not a run param.*extra allow_other_hosts"
    )
    with refused, fail_fast():
        list_and_plan(FanoutRequest.from_params({"allow_other_hosts": True}), "paginated_fanout", "run-widen")
    assert home.seen == [] and other.seen == [] and not list(storage.rglob("*.json"))


@pytest.mark.parametrize(
    ("link", "reason"),
    [("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://localhost:{port}/page/1", "loopback")],
)
def test_listing_links_to_metadata_or_loopback_are_refused_even_when_other_hosts_are_allowed(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch, link: str, reason: str
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allow_other_hosts=True)
    home.links = ["/page/0", link.format(port=other.port)]
    with pytest.raises(ValueError, match=f"link 1: .* {reason} address"):
        list_and_plan(FanoutRequest.from_params({}), "paginated_fanout", "run-links")
    assert other.seen == [] and not list(storage.rglob("*.json"))


def test_listing_links_outside_the_connections_allowed_hosts_are_refused(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, other = listeners
    _connect(monkeypatch, home, allow_other_hosts=True, allowed_hosts=["localhost"])
    home.links = ["/page/0", f"http://127.0.0.2:{other.port}/page/1"]
    with pytest.raises(ValueError, match=r"link 1: .* neither the connection paged_api_default's nor in its allowed"):
        list_and_plan(FanoutRequest.from_params({}), "paginated_fanout", "run-links")
    assert other.seen == []


def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from courier.webhooks.policy import TargetRefused

    home, other = listeners
    _connect(monkeypatch, home)
    for target in (f"{other.url}/data", "http://169.254.169.254/latest/meta-data/"):
        home.redirect_to = target
        with pytest.raises(TargetRefused, match=r"is refused: host .* resolves to (loopback|link-local) address"):
            _snapshot("/redirect")
    assert other.seen == [] and not list(storage.rglob("*.csv"))
    assert [p for p, _ in home.seen] == ["/redirect", "/redirect"]


def test_a_jobs_result_on_another_host_is_fetched_without_credentials(
    listeners: tuple[Listener, Listener], storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from courier.http import settings_from_connection
    from courier.jobs.processor_client import client, fetch_result

    home, other = listeners

    class Conn:
        conn_id, host, port, schema, login, password = "jobs_api_default", "127.0.0.1", home.port, "http", None, TOKEN
        extra_dejson = {"headers": {"X-Api-Key": API_KEY}, "allowed_hosts": ["localhost"]}

    async def fetch() -> str:
        async with client(settings_from_connection(Conn())) as http:
            return await fetch_result(http, f"{other.url}/data", "job-1")

    assert asyncio.run(fetch()) == "jobs/job-1/report.csv"
    assert [p for p, _ in other.seen] == ["/data"] and other.leaked() == []
