"""Jobs' rules without I/O (``jobs/rules.py``): the status transitions and the processor's answers."""

from __future__ import annotations

import itertools

import pytest

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
