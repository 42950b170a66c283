"""The job life cycle and the processor's answers, as pure functions (no I/O).

``queued → processing → success | failed``, ``success → downloaded``; ``queued``/``processing`` may be
``cancelled``; a ``processing`` job whose attempt failed or timed out is retried :data:`MAX_RETRIES` times
(``retries`` 0 → 1: resubmitted by its owner, or re-queued by the sweep when its owner is gone) and failed
after that. Nothing ever moves out of a final status except ``success → downloaded``.

These rules are what runs: :class:`~courier.jobs.store.JobStore` passes :data:`MAX_RETRIES` and the statuses
:func:`sources` names to its SQL as parameters at each call, so changing a rule here changes the behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    DOWNLOADED = "downloaded"
    CANCELLED = "cancelled"


FINAL = (Status.SUCCESS, Status.FAILED, Status.DOWNLOADED, Status.CANCELLED)
HAS_REPORT = (Status.SUCCESS, Status.DOWNLOADED)
MAX_RETRIES = 1
"""Attempts after the first a failed or timed-out job gets (the store's SQL: ``retries < %(max_retries)s``).
0 or 1: the table's ``CHECK (retries BETWEEN 0 AND 1)`` (migration 0006) bounds it; more needs a migration."""

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.QUEUED: frozenset({Status.PROCESSING, Status.CANCELLED}),
    # processing -> processing: the owner retries a failed attempt in place (retries 0 -> 1, resubmitted)
    Status.PROCESSING: frozenset({Status.PROCESSING, Status.SUCCESS, Status.FAILED, Status.QUEUED, Status.CANCELLED}),
    Status.SUCCESS: frozenset({Status.DOWNLOADED}),
    Status.FAILED: frozenset(),
    Status.DOWNLOADED: frozenset(),
    Status.CANCELLED: frozenset(),
}
"""Every allowed status change; the store's guarded UPDATEs implement exactly these."""


def allowed(current: Status | str, new: Status | str) -> bool:
    """Whether a job may move from ``current`` to ``new``."""
    return Status(new) in TRANSITIONS[Status(current)]


def sources(new: Status) -> list[str]:
    """The statuses a job may move to ``new`` from (the guard of the store's UPDATE into ``new``)."""
    return [str(old) for old, targets in TRANSITIONS.items() if new in targets]


# ---------------------------------------------------------------------------------------- the processor
class Upstream(StrEnum):
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    MISSING = "missing"


_RUNNING = frozenset({"queued", "pending", "submitted", "running", "processing", "in_progress", "started"})
_READY = frozenset({"done", "succeeded", "success", "successful", "completed", "complete", "finished", "ready"})
_FAILED = frozenset({"failed", "failure", "error", "errored", "cancelled", "canceled", "aborted"})
ID_FIELDS = ("id", "job_id", "jobId")


class UpstreamError(ValueError):
    """The processor answered something Courier cannot read."""


@dataclass(frozen=True)
class UpstreamStatus:
    state: Upstream
    result_url: str | None = None
    error: str | None = None


def parse_upstream_id(body: Any) -> str:
    """The upstream job id from a submit answer: ``id``, ``job_id`` or ``jobId`` (a string or an integer)."""
    if isinstance(body, dict):
        for name in ID_FIELDS:
            value = body.get(name)
            if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
                return str(value).strip()
    raise UpstreamError(f"the processor's answer has no job id under {', '.join(ID_FIELDS)}: {str(body)[:200]}")


def parse_status(body: Any) -> UpstreamStatus:
    """Read a ``GET /jobs/{id}`` answer: ``status`` (case-insensitive), ``result_url`` when ready, ``error``."""
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise UpstreamError(f"the processor's status answer has no 'status' string: {str(body)[:200]}")
    status = body["status"].strip().lower().replace("-", "_").replace(" ", "_")
    error = body.get("error")
    error_text = None if error in (None, "") else str(error)
    if status in _RUNNING:
        return UpstreamStatus(Upstream.RUNNING)
    if status in _FAILED:
        return UpstreamStatus(Upstream.FAILED, error=error_text or f"the processor reports {body['status']!r}")
    if status in _READY:
        url = body.get("result_url") or body.get("resultUrl")
        if not isinstance(url, str) or not url.strip():
            raise UpstreamError("the processor reports the job ready but gives no result_url")
        return UpstreamStatus(Upstream.READY, result_url=url.strip())
    raise UpstreamError(f"unknown processor status {body['status']!r}")
