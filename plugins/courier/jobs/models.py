"""The jobs API's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from courier.jobs.rules import Status

MAX_FILES = 1000


class JobIn(BaseModel):
    """A job to submit: the files the processor reads, and optional parameters passed to it as they are."""

    model_config = ConfigDict(extra="forbid")

    files_to_process: list[str] = Field(
        min_length=1,
        max_length=MAX_FILES,
        description="File ids from POST /courier/jobs/files, or paths under the storage base (relative, or "
        "absolute URLs starting with the storage base).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the processor unchanged.")
    idempotency_key: str | None = Field(
        None, min_length=1, max_length=255, description="Submitting the same key again returns the existing job."
    )
    callback_url: str | None = Field(
        None,
        max_length=2048,
        pattern=r"^[hH][tT][tT][pP][sS]?://[^/?#@\s]+",
        description="Each final status (success, failed, downloaded) is POSTed here as a signed Standard Webhook.",
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


class JobOut(BaseModel):
    job_id: str
    status: Status
    retries: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    downloaded_at: datetime | None
    files_to_process: list[str]
    params: dict[str, Any]
    report_file_path: str | None
    upstream_id: str | None
    error: str | None
    idempotency_key: str | None
    callback_url: str | None
    attempts: list[AttemptOut] | None = Field(None, description="Every attempt (in GET /courier/jobs/{id} only).")


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None
