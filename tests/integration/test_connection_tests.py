"""Each Courier hook's ``test_connection`` against real servers on loopback: success, bad auth, disallowed host.

The upstreams are the demo servers (``courier.demo``) behind a bearer-token check, served over real HTTP on
127.0.0.1; the Courier database is the embedded PostgreSQL. Connections are resolved the way Airflow resolves
them (``AIRFLOW_CONN_*``), and the Test button's path is used: ``Connection.test_connection()`` finds the hook by
the connection's type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from courier.demo import report_api
from courier.demo.app import create_app
from courier.demo.server import serve_in_thread

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    """The demo upstream (reports, pages, processor) wanting ``Authorization: Bearer <TOKEN>``; its URL."""
    app = create_app()

    @app.middleware("http")
    async def bearer(request: Request, call_next: Any) -> Any:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"detail": "bad token"}, status_code=401)
        return await call_next(request)

    report_api.reset()
    with serve_in_thread(app) as url:
        yield url
    report_api.reset()


def _define(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, host: str, **extra: Any) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, "host": host, "extra": extra})
    )


def _check(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, host: str, **extra: Any) -> tuple[bool, str]:
    """Define the connection, then test it."""
    _define(monkeypatch, conn_id, conn_type, host, **extra)
    return _test(conn_id)


def _test(conn_id: str) -> tuple[bool, str]:
    """What the UI's Test button and ``airflow connections test`` run: the hook of the connection's type."""
    from airflow.models.connection import Connection

    return Connection.get_connection_from_secrets(conn_id).test_connection()  # type: ignore[no-any-return]


def _other_host(url: str) -> str:
    """The same server named by another host (``localhost``): not the connection's origin."""
    return url.replace("127.0.0.1", "localhost")


CASES = [
    # conn id, type, the extra whose absolute URL names another host
    ("report_api_default", "courier_report_api", "request_path", "/request_report"),
    ("paged_api_default", "courier_paged_api", "test_path", "/data"),
    ("jobs_api_default", "courier_jobs_api", "test_path", "/jobs/unknown"),
]


@pytest.mark.parametrize(("conn_id", "conn_type", "path_extra", "path"), CASES)
def test_success_bad_auth_and_disallowed_host(
    upstream: str, monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, path_extra: str, path: str
) -> None:
    ok, message = _check(monkeypatch, conn_id, conn_type, upstream, token=TOKEN, **{path_extra: path})
    assert ok, message

    ok, message = _check(monkeypatch, conn_id, conn_type, upstream, token="wrong", **{path_extra: path})
    assert not ok and "credentials refused (HTTP 401" in message, message

    elsewhere = _other_host(upstream) + path
    ok, message = _check(monkeypatch, conn_id, conn_type, upstream, token=TOKEN, **{path_extra: elsewhere})
    assert not ok and f"extra {path_extra} = {elsewhere!r} is refused" in message, message
    assert "allowed_hosts extra lists none" in message

    # on a host the connection's allowed_hosts extra lists the rule passes, and the request goes there without
    # the connection's credentials (another origin), which this server refuses
    _define(
        monkeypatch, conn_id, conn_type, upstream, token=TOKEN, allowed_hosts="localhost", **{path_extra: elsewhere}
    )
    ok, message = _test(conn_id)
    assert not ok and "is refused" not in message, message
    assert f" {elsewhere} (another origin than the connection's: sent without its credentials)" in message, message
    assert "HTTP 401" in message, message


def test_report_test_checks_the_not_ready_marker(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = _check(monkeypatch, "report_api_default", "courier_report_api", upstream, token=TOKEN)
    assert ok and "marker recognised" in message, message

    ok, message = _check(
        monkeypatch, "report_api_default", "courier_report_api", upstream, token=TOKEN, not_ready_marker="pending"
    )
    assert not ok and "does not contain the not_ready_marker extra 'pending'" in message, message

    # a server under heavy load answers 503 + Retry-After with the marker: not ready, not a failed test
    configure = {"heavy_load": "on", "load_status": 503}
    httpx.post(f"{upstream}/_demo/reports/config", json=configure, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        ok, message = _check(monkeypatch, "report_api_default", "courier_report_api", upstream, token=TOKEN)
        assert ok and "HTTP 503: not ready" in message, message
        ok, message = _check(
            monkeypatch, "report_api_default", "courier_report_api", upstream, token=TOKEN, not_ready_marker="x!"
        )
        assert not ok and "(HTTP 503) does not contain the not_ready_marker" in message, message
    finally:
        report_api.reset()


def test_a_bad_extra_fails_the_test_naming_it(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ok, message = _check(
        monkeypatch, "paged_api_default", "courier_paged_api", upstream, token=TOKEN, verify="sometimes"
    )
    assert not ok and "extra verify = 'sometimes' is invalid: expected true or false" in message


def test_a_legacy_http_connection_still_runs_courier_hooks(upstream: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Existing deployments' ``http`` connections keep working for Courier's tasks (only the form and the
    Test button need the Courier type)."""
    from courier.pages.hook import PagedApiHook

    _define(monkeypatch, "paged_api_default", "http", upstream, token=TOKEN, verify="false")
    hook = PagedApiHook()
    assert hook.settings.verify is False
    assert hook.get("/data", {"rows": 2}).json()["data"]
    assert hook.test_connection()[0]


def _db_url(url: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    user = parts.username or ""
    auth = f"{user}:{password if password is not None else parts.password or ''}@"
    return f"postgresql://{auth}{parts.hostname}:{parts.port}{parts.path}"


def test_courier_db_success_bad_auth_and_unmigrated(
    courier_db: str, empty_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")  # the connection is tested
    monkeypatch.setenv("AIRFLOW_CONN_COURIER_DB", _db_url(courier_db).replace("postgresql://", "courier-db://", 1))
    ok, message = _test("courier_db")
    assert ok and "schema is at version" in message, message

    monkeypatch.setenv(
        "AIRFLOW_CONN_COURIER_DB", _db_url(courier_db, "wrong").replace("postgresql://", "courier-db://", 1)
    )
    ok, message = _test("courier_db")
    assert not ok and "password authentication failed" in message, message

    monkeypatch.setenv("AIRFLOW_CONN_COURIER_DB", _db_url(empty_db).replace("postgresql://", "courier-db://", 1))
    ok, message = _test("courier_db")
    assert not ok and "run `courier db migrate`" in message, message
