"""Jobs: the status transitions, the processor's answers, signed file URLs, request validation (no I/O)."""

from __future__ import annotations

import itertools

import pytest
from pydantic import ValidationError

from courier.jobs import fetch_urls
from courier.jobs.models import JobIn
from courier.jobs.rules import (
    FINAL,
    TRANSITIONS,
    Status,
    Upstream,
    UpstreamError,
    allowed,
    parse_status,
    parse_upstream_id,
    sources,
)
from courier.jobs.storing import BadReference, relative_reference, safe_name

ALLOWED = {
    ("queued", "processing"),
    ("queued", "cancelled"),
    ("processing", "processing"),  # retried in place by its owner
    ("processing", "success"),
    ("processing", "failed"),
    ("processing", "queued"),  # re-queued by the sweep
    ("processing", "cancelled"),
    ("success", "downloaded"),
}


@pytest.mark.parametrize(("old", "new"), list(itertools.product([s.value for s in Status], repeat=2)))
def test_every_transition_is_allowed_or_refused_as_documented(old: str, new: str) -> None:
    assert allowed(old, new) is ((old, new) in ALLOWED)


def test_final_statuses_never_move_except_success_to_downloaded() -> None:
    for status in FINAL:
        assert TRANSITIONS[status] <= {Status.DOWNLOADED}
    assert TRANSITIONS[Status.DOWNLOADED] == frozenset()


def test_the_store_guards_come_from_the_transitions() -> None:
    assert sources(Status.CANCELLED) == ["queued", "processing"]
    assert sources(Status.DOWNLOADED) == ["success"]
    assert all(allowed(old, new) for new in Status for old in sources(new))


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"id": "a1"}, "a1"), ({"job_id": 42}, "42"), ({"jobId": " x "}, "x"), ({"id": "", "job_id": "b"}, "b")],
)
def test_upstream_id_under_any_of_the_three_names(body: dict[str, object], expected: str) -> None:
    assert parse_upstream_id(body) == expected


@pytest.mark.parametrize("body", [{}, {"id": None}, {"id": True}, [], "id", {"uuid": "x"}])
def test_upstream_id_missing_is_an_error(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_upstream_id(body)


@pytest.mark.parametrize("word", ["queued", "running", "Processing", "in-progress"])
def test_still_working_statuses(word: str) -> None:
    assert parse_status({"status": word}).state is Upstream.RUNNING


@pytest.mark.parametrize("word", ["done", "succeeded", "SUCCESS", "completed"])
def test_ready_statuses_carry_the_result_url(word: str) -> None:
    parsed = parse_status({"status": word, "result_url": "/results/1"})
    assert parsed.state is Upstream.READY and parsed.result_url == "/results/1"


def test_ready_without_result_url_is_an_error() -> None:
    with pytest.raises(UpstreamError, match="result_url"):
        parse_status({"status": "done"})


@pytest.mark.parametrize("word", ["failed", "error"])
def test_failed_statuses_keep_the_error(word: str) -> None:
    parsed = parse_status({"status": word, "error": "disk full"})
    assert parsed.state is Upstream.FAILED and parsed.error == "disk full"
    assert "failed" in (parse_status({"status": word}).error or "") or word in (
        parse_status({"status": word}).error or ""
    )


@pytest.mark.parametrize("body", [{"status": "exploded"}, {"state": "done"}, {"status": 3}, None])
def test_unknown_status_is_an_error(body: object) -> None:
    with pytest.raises(UpstreamError):
        parse_status(body)


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


@pytest.mark.parametrize(
    "body",
    [
        {"files_to_process": []},
        {"files_to_process": ["f"] * 1001},
        {"files_to_process": ["f"], "callback_url": "ftp://example.com/x"},
        {"files_to_process": ["f"], "idempotency_key": ""},
        {"files_to_process": ["f"], "surprise": 1},
        {},
    ],
)
def test_request_validation(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JobIn.model_validate(body)


BASE = "s3://bucket/prefix"


@pytest.mark.parametrize(
    "ref", ["../etc/passwd", "a/../../b", "/abs", "a//b", "s3://other/prefix/a", "s3://bucket/prefixx/a", "./a"]
)
def test_paths_outside_the_storage_base_are_refused(ref: str) -> None:
    with pytest.raises(BadReference):
        relative_reference(ref, BASE)


def test_paths_under_the_storage_base_are_made_relative() -> None:
    assert relative_reference("s3://bucket/prefix/in/a.csv", BASE) == "in/a.csv"
    assert relative_reference("in/a.csv", BASE) == "in/a.csv"


def test_uploaded_names_are_made_safe() -> None:
    assert safe_name("../../x y.csv") == "x_y.csv"
    assert safe_name(None) == "file" and safe_name("..") == "file"
