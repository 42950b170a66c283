"""What every part of the jobs store shares: its columns, the statuses as SQL literals (from
:mod:`courier.jobs.rules`), the attempt statements, the row shapes, and the connection of one call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.rows import dict_row

from courier.db.hook import CourierDbHook, source
from courier.db.literals import literals
from courier.jobs.models import (
    AttemptOut,
    JobOut,
    Work,
)
from courier.jobs.rules import Status

COLUMNS = (
    "job_id, status, retries, created_at, started_at, finished_at, downloaded_at, files_to_process, params, "
    "report_file_path, upstream_id, error, idempotency_key, callback_url"
)
SUMMARY_COLUMNS = (
    "job_id, status, retries, created_at, started_at, finished_at, downloaded_at, "
    "jsonb_array_length(files_to_process) AS file_count, octet_length(params::text) AS params_bytes, "
    "report_file_path, upstream_id, error, idempotency_key, callback_url"
)
"""A listing's columns: sizes instead of the files and params (see :class:`~courier.jobs.models.JobSummary`)."""
WORK_COLUMNS = "job_id, seq, retries, files_to_process, params, upstream_id, deadline_at, callback_url"
MINE = "(%(who)s::text IS NULL OR created_by = %(who)s)"
"""Only the objects of ``who`` (a creator), or every object when it is None (full access)."""
SYSTEM = "courier"
"""The creator of jobs Courier's own code makes without a more precise one (API callers are ``user:…``)."""


# The statuses of :mod:`courier.jobs.rules` the statements below are built from (no status is spelled here).
QUEUED = literals(Status.QUEUED)
PROCESSING = literals(Status.PROCESSING)
SUCCESS = literals(Status.SUCCESS)
FAILED = literals(Status.FAILED)
DOWNLOADED = literals(Status.DOWNLOADED)
CANCELLED = literals(Status.CANCELLED)
NEW_ATTEMPT = """
INSERT INTO courier_job_attempts (job_id, attempt, owner) VALUES (%(id)s, %(attempt)s, %(owner)s)
ON CONFLICT (job_id, attempt) DO UPDATE SET started_at = now(), owner = excluded.owner, finished_at = NULL,
    outcome = NULL, upstream_id = NULL, error = NULL
"""
END_ATTEMPT = """
UPDATE courier_job_attempts SET finished_at = now(), outcome = %(outcome)s, error = %(error)s
WHERE job_id = %(id)s AND attempt = %(attempt)s AND finished_at IS NULL
"""


TABLE = "courier_jobs"
"""The table retention names this store's jobs by (``courier db clean --tables``)."""
FILES_TABLE = "courier_job_files"
"""The table retention names pushed files by."""


def to_work(row: dict[str, Any]) -> Work:
    return Work(
        row["job_id"],
        row["seq"],
        row["retries"],
        list(row["files_to_process"]),
        dict(row["params"] or {}),
        row["upstream_id"],
        row["deadline_at"],
        row["callback_url"],
    )


def to_out(row: dict[str, Any], attempts: list[dict[str, Any]] | None = None) -> JobOut:
    return JobOut(
        job_id=row["job_id"],
        status=row["status"],
        retries=row["retries"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        downloaded_at=row["downloaded_at"],
        files_to_process=list(row["files_to_process"]),
        params=dict(row["params"] or {}),
        report_file_path=row["report_file_path"],
        upstream_id=row["upstream_id"],
        error=row["error"],
        idempotency_key=row["idempotency_key"],
        callback_url=row["callback_url"],
        attempts=None if attempts is None else [AttemptOut(**a) for a in attempts],
    )


class Base:
    """Each call is one transaction on a connection from the Courier DB hook: lent by the process's pool where
    one process makes many calls (``JobStore(pooled())``: the API routes, the jobs Stepper), else its own short
    connection (see docs/ARCHITECTURE.md, "One way to connect").

    :param db: the hook to connect through, or a libpq URL (default: a plain hook).
    """

    def __init__(self, db: CourierDbHook | str | None = None) -> None:
        self.db = source(db)

    @contextlib.contextmanager
    def connect(self) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self.db.connection(dict_row) as conn:
            yield conn

    @contextlib.contextmanager
    def _using(self, conn: psycopg.Connection[dict[str, Any]] | None) -> Iterator[psycopg.Connection[dict[str, Any]]]:
        """``conn`` when the caller holds one (its transaction), else a transaction of our own."""
        if conn is not None:
            yield conn
            return
        with self.connect() as own:
            yield own
