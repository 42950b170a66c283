"""Signed file URLs (``jobs/fetch_urls.py``): what verifies, what is refused, how long a URL lives."""

from __future__ import annotations

import pytest

from courier.jobs import fetch_urls

KEY = fetch_urls.derive_key("a deployment secret")


JOB = "job_" + "a" * 32


def _verify(query: dict[str, str], now: float) -> None:
    fetch_urls.verify(KEY, query["job"], query["path"], query["expires"], query["token"], now=now)


def test_signed_file_url_verifies() -> None:
    query = fetch_urls.sign_query(KEY, JOB, "jobs/files/f/a.csv", 1060)
    _verify(query, now=1030)


@pytest.mark.parametrize(
    "change",
    [
        {"path": "jobs/files/f/b.csv"},
        {"job": "job_" + "b" * 32},
        {"expires": "999999999"},
        {"token": "0" * 64},
        {"expires": "soon"},
    ],
)
def test_tampered_file_url_is_refused(change: dict[str, str]) -> None:
    query = {**fetch_urls.sign_query(KEY, JOB, "jobs/files/f/a.csv", 1060), **change}
    with pytest.raises(fetch_urls.BadSignature):
        _verify(query, now=1030)


@pytest.mark.parametrize(
    "token", ["", "é" * 64, "ü", "0" * 63, "0" * 65, "A" * 64, " " + "0" * 63, "0" * 64 + "\n", "x" * 5000]
)
def test_malformed_signature_is_a_bad_signature_not_an_error(token: str) -> None:
    query = {**fetch_urls.sign_query(KEY, JOB, "jobs/files/f/a.csv", 1060), "token": token}
    with pytest.raises(fetch_urls.BadSignature, match="missing or not 64 hex digits"):
        _verify(query, now=1030)


def test_expired_file_url_is_refused() -> None:
    query = fetch_urls.sign_query(KEY, JOB, "jobs/files/f/a.csv", 1060)
    with pytest.raises(fetch_urls.BadSignature, match="expired"):
        _verify(query, now=1061)


def test_url_lifetime_ends_at_the_job_deadline_and_never_past_job_timeout() -> None:
    from datetime import UTC, datetime

    deadline = datetime.fromtimestamp(1000 + 300, UTC)
    assert fetch_urls.expires_at(deadline, timeout=900, now=1000) == 1300  # the job's deadline
    assert fetch_urls.expires_at(deadline, timeout=60, now=1000) == 1060  # never longer than job_timeout
    assert fetch_urls.expires_at(None, timeout=900, now=1000) == 1900


def test_another_deployment_key_is_refused_and_the_key_is_not_the_secret() -> None:
    query = fetch_urls.sign_query(KEY, JOB, "p", 1060)
    with pytest.raises(fetch_urls.BadSignature):
        fetch_urls.verify(fetch_urls.derive_key("another secret"), JOB, "p", query["expires"], query["token"], now=1000)
    assert b"a deployment secret" not in KEY
