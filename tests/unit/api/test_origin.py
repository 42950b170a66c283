"""Which state-changing requests the UI cookie may carry (``courier.api.auth.same_origin``; attack tests with the
app and a database: tests/integration/api/test_cross_origin.py)."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from courier.api.auth import same_origin


def _request(method: str = "POST", **headers: str) -> Request:
    raw = [(name.replace("_", "-").lower().encode(), value.encode()) for name, value in headers.items()]
    scope = {
        "type": "http",
        "method": method,
        "scheme": "http",
        "server": ("courier.internal", 8080),
        "path": "/courier/timers/x/cancel",
        "query_string": b"",
        "headers": [(b"host", b"courier.internal:8080"), *raw],
    }
    return Request(scope)


@pytest.mark.parametrize(
    "headers",
    [
        {"sec_fetch_site": "same-origin"},
        {"origin": "http://courier.internal:8080"},  # a browser without Sec-Fetch-*: its Origin is ours
        {"origin": "https://airflow.example.com"},  # [api] base_url's origin (behind a proxy)
        {"authorization": "Bearer abc", "sec_fetch_site": "cross-site"},  # a client's token: no cookie involved
    ],
)
def test_allowed(headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    assert same_origin(_request(**headers)) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"sec_fetch_site": "same-site", "origin": "http://courier.internal:8080"},  # Sec-Fetch-Site decides
        {"sec_fetch_site": "cross-site"},
        {"sec_fetch_site": "none"},  # typed in the address bar: never a change
        {"origin": "http://courier.internal:9999"},  # another port of the host
        {"origin": "null"},  # a sandboxed frame or a redirect
        {},  # no Origin at all
        {"authorization": "Basic YTpi"},  # not a bearer token: Airflow reads the cookie
        {"authorization": "Bearer "},
    ],
)
def test_refused(headers: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")
    assert same_origin(_request(**headers)) is not None


def test_reads_are_never_refused() -> None:
    assert same_origin(_request("GET", sec_fetch_site="cross-site")) is None
