"""The jobs API's shapes."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from courier.jobs.rules import Status
from courier.wire import URL_PATTERN, DbText, db_json_problem

MAX_FILES = 1000
MAX_BATCH = 1000
"""Jobs per ``POST /courier/jobs/batch`` at most."""
MAX_REFERENCE = 1024
MAX_PARAMS_BYTES = 64 * 1024
"""``params`` as compact JSON (UTF-8) may take at most this many bytes."""
MAX_PAGE = 200
"""Jobs per ``GET /courier/jobs`` page at most. A listed job carries no ``params`` and no file list (their sizes
and ``file_count`` only): a page stays under a few hundred KiB however big the jobs are."""


class JobIn(BaseModel):
    """A job to submit: the files the processor reads, and optional parameters passed to it as they are."""

    model_config = ConfigDict(extra="forbid")

    files_to_process: list[Annotated[DbText, StringConstraints(min_length=1, max_length=MAX_REFERENCE)]] = Field(
        min_length=1,
        max_length=MAX_FILES,
        description="File ids from POST /courier/jobs/files, or paths under the storage base (relative, or "
        "absolute URLs starting with the storage base).",
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description=f"Passed to the processor unchanged; at most {MAX_PARAMS_BYTES} bytes as compact JSON.",
    )
    idempotency_key: DbText | None = Field(
        None,
        min_length=1,
        max_length=255,
        description="Yours alone: submitting the same job with the same key again returns your existing job; the "
        "key with another body is a 409.",
    )
    callback_url: str | None = Field(
        None,
        max_length=2048,
        pattern=URL_PATTERN,
        description="Each final status (success, failed, downloaded) is POSTed here as a signed Standard Webhook "
        "(http or https; no spaces or control characters).",
    )

    @field_validator("params")
    @classmethod
    def _params(cls, value: dict[str, Any]) -> dict[str, Any]:
        problem = db_json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        if size > MAX_PARAMS_BYTES:
            raise ValueError(f"params are {size} bytes as JSON; at most {MAX_PARAMS_BYTES} are accepted")
        return value


class JobBatchIn(BaseModel):
    """Jobs to submit together: all are stored, or (on any bad job) none."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[JobIn] = Field(
        min_length=1,
        max_length=MAX_BATCH,
        description=f"At most {MAX_BATCH} jobs, each checked as POST /courier/jobs checks one; each may have its "
        "own idempotency_key (a key may appear once per batch).",
    )


class FileOut(BaseModel):
    file_id: str
    path: str = Field(description="Where the file is stored (a URL under the storage base).")
    bytes: int
    sha256: str


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    upstream_id: str | None
    error: str | None


class _JobFields(BaseModel):
    """What a job shows in a listing and in its own document."""

    job_id: str
    status: Status
    retries: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    downloaded_at: datetime | None
    report_file_path: str | None
    upstream_id: str | None
    error: str | None
    idempotency_key: str | None
    callback_url: str | None


class JobOut(_JobFields):
    """A job's whole document (``GET /courier/jobs/{id}``, and the submit answers)."""

    files_to_process: list[str]
    params: dict[str, Any]
    attempts: list[AttemptOut] | None = Field(None, description="Every attempt (in GET /courier/jobs/{id} only).")


class JobSummary(_JobFields):
    """A job in a listing: everything of :class:`JobOut` but its files, parameters and attempts (read them with
    ``GET /courier/jobs/{id}``), which a page of many jobs would multiply."""

    file_count: int = Field(description="How many files the job names (GET /courier/jobs/{id} lists them).")
    params_bytes: int = Field(
        description="Size of its params as JSON text, in bytes (GET /courier/jobs/{id} has them)."
    )


class JobBatchOut(BaseModel):
    jobs: list[JobOut] = Field(description="The jobs in the order submitted.")
    created: list[bool] = Field(
        description="Per job, in the same order: false where its idempotency_key was used before, and the job "
        "shown is that existing one (nothing new was stored for it)."
    )


class JobPage(BaseModel):
    jobs: list[JobSummary]
    next_cursor: str | None


# ---------------------------------------------------------------- what the store takes and returns
class JobNotFound(LookupError):
    pass


class JobNotCancellable(RuntimeError):
    def __init__(self, job: JobOut) -> None:
        super().__init__(f"job {job.job_id} is {job.status}; only queued or processing jobs can be cancelled")
        self.job = job


@dataclass(frozen=True)
class NewJob:
    job_id: str
    files: list[str]
    params: dict[str, Any]
    idempotency_key: str | None
    callback_url: str | None
    created_by: str | None = None
    """Who submits it (``user:<name>``; None: the ``created_by`` the store call gives)."""
    request_sha256: str | None = None
    """The request's :func:`~courier.wire.fingerprint`: its key reused with another request is a conflict."""


@dataclass(frozen=True)
class Work:
    """A job as its owner sees it while processing it."""

    job_id: str
    seq: int
    retries: int
    files: list[str]
    params: dict[str, Any]
    upstream_id: str | None
    deadline_at: datetime | None
    callback_url: str | None

    @property
    def attempt(self) -> int:
        return self.retries + 1


@dataclass(frozen=True)
class Moved:
    """The outcome of one guarded transition: the job's new status, or None when the guard refused it."""

    job_id: str
    status: Status | None
    callback_url: str | None = None
    seconds: float | None = None
    """From creation to the final status, when the transition made one (for Courier's own stats)."""


def new_id(prefix: str = "job") -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
