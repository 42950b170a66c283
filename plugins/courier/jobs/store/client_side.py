"""The jobs store's client side: submitting (idempotency keys per creator), reading, listing and cancelling."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from courier import metrics
from courier.db.paging import newest_first
from courier.jobs import rules
from courier.jobs.models import (
    JobNotCancellable,
    JobNotFound,
    JobOut,
    JobSummary,
    NewJob,
)
from courier.jobs.rules import Status
from courier.jobs.store.base import (
    CANCELLED,
    COLUMNS,
    END_ATTEMPT,
    MINE,
    SUMMARY_COLUMNS,
    SYSTEM,
    Base,
    to_out,
)
from courier.wire import KeyReused

_INSERT = f"""
INSERT INTO courier_jobs (job_id, files_to_process, params, idempotency_key, callback_url, created_by, request_sha256)
SELECT id, files, params, key, callback, by, sha
FROM unnest(%(ids)s::text[], %(files)s::jsonb[], %(params)s::jsonb[], %(keys)s::text[], %(callbacks)s::text[],
            %(by)s::text[], %(sha)s::text[])
     WITH ORDINALITY AS j (id, files, params, key, callback, by, sha, n)
ORDER BY n
ON CONFLICT (created_by, idempotency_key) DO NOTHING
RETURNING {COLUMNS}
"""
"""A key is unique per creator (migration 0012): another creator's key never stands in for this one."""
_EXISTING = f"""
SELECT {COLUMNS}, created_by, request_sha256 FROM courier_jobs
WHERE (created_by, idempotency_key) IN (SELECT * FROM unnest(%(by)s::text[], %(keys)s::text[]))
"""


class ClientSide(Base):
    """What the API and the client tasks do with jobs: submit (idempotently), read, list, cancel."""

    def create(
        self, job: NewJob, created_by: str = SYSTEM, conn: psycopg.Connection[dict[str, Any]] | None = None
    ) -> tuple[JobOut, bool]:
        """Insert ``job``; with an ``idempotency_key`` its creator already used, return the existing job and False
        (:class:`~courier.wire.KeyReused` when that job came from another request)."""
        ((out, created),) = self.create_many([job], created_by, conn)
        return out, created

    def create_many(
        self, jobs: list[NewJob], created_by: str = SYSTEM, conn: psycopg.Connection[dict[str, Any]] | None = None
    ) -> list[tuple[JobOut, bool]]:
        """Insert ``jobs`` with one statement (their ``seq`` in list order); return each with True if new. A job's
        creator is its ``created_by``, else ``created_by`` here.

        Idempotency keys are scoped to their creator. A job whose key its creator used already is not inserted:
        the existing job is returned with False when it came from the same request (``request_sha256``);
        otherwise :class:`~courier.wire.KeyReused` names those jobs (none of them was inserted; the others were,
        in the caller's transaction, which the caller ends: rolled back if the exception leaves it).
        """
        creators = [j.created_by or created_by for j in jobs]
        args = {
            "ids": [j.job_id for j in jobs],
            "files": [Jsonb(j.files) for j in jobs],
            "params": [Jsonb(j.params) for j in jobs],
            "keys": [j.idempotency_key for j in jobs],
            "callbacks": [j.callback_url for j in jobs],
            "by": creators,
            "sha": [j.request_sha256 for j in jobs],
        }
        with self._using(conn) as conn:
            inserted = {r["job_id"]: r for r in conn.execute(_INSERT, args).fetchall()}
            missing = [
                (by, j.idempotency_key) for j, by in zip(jobs, creators, strict=True) if j.job_id not in inserted
            ]
            existing: dict[tuple[str, str | None], dict[str, Any]] = {}
            if missing:
                rows = conn.execute(_EXISTING, {"by": [m[0] for m in missing], "keys": [m[1] for m in missing]})
                existing = {(r["created_by"], r["idempotency_key"]): r for r in rows.fetchall()}
        results = [
            (to_out(inserted[j.job_id]), True)
            if j.job_id in inserted
            else (to_out(existing[(by, j.idempotency_key)]), False)
            for j, by in zip(jobs, creators, strict=True)
        ]
        reused = [
            i
            for i, (j, by) in enumerate(zip(jobs, creators, strict=True))
            if j.job_id not in inserted and existing[(by, j.idempotency_key)]["request_sha256"] != j.request_sha256
        ]
        if reused:
            raise KeyReused(reused, [str(jobs[i].idempotency_key) for i in reused], results)
        metrics.jobs_submitted(len(inserted))  # with a caller's connection, its transaction commits just after
        return results

    def get(self, job_id: str, visible_to: str | None = None) -> JobOut:
        """The job with its attempts; :class:`JobNotFound` if there is none, or (``visible_to`` not None) if
        ``visible_to`` did not create it."""
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM courier_jobs WHERE job_id = %(id)s AND {MINE}",
                {"id": job_id, "who": visible_to},
            ).fetchone()
            if row is None:
                raise JobNotFound(job_id)
            attempts = conn.execute(
                "SELECT attempt, started_at, finished_at, outcome, upstream_id, error FROM courier_job_attempts "
                "WHERE job_id = %s ORDER BY attempt",
                (job_id,),
            ).fetchall()
        return to_out(row, attempts)

    def files_of(self, job_id: str) -> list[str]:
        """The storage-relative files ``job_id`` names (raise :class:`JobNotFound`)."""
        with self.connect() as conn:
            row = conn.execute("SELECT files_to_process FROM courier_jobs WHERE job_id = %s", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return list(row["files_to_process"])

    def report_location(self, job_id: str, visible_to: str | None = None) -> tuple[Status, str | None]:
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT status, report_file_path FROM courier_jobs WHERE job_id = %(id)s AND {MINE}",
                {"id": job_id, "who": visible_to},
            ).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return Status(row["status"]), row["report_file_path"]

    def page(
        self,
        status: Status | None,
        since: datetime | None,
        limit: int,
        cursor: str | None,
        visible_to: str | None = None,
    ) -> tuple[list[JobSummary], str | None]:
        """Newest first, as summaries (no files or params); ``since`` keeps jobs created at or after it; only
        ``visible_to``'s jobs unless None; pass the returned cursor for the next page."""
        where: list[str] = []
        args: list[Any] = []
        if visible_to is not None:
            where.append("created_by = %s")
            args.append(visible_to)
        if status is not None:
            where.append("status = %s")
            args.append(str(status))
        if since is not None:
            where.append("created_at >= %s")
            args.append(since)
        with self.connect() as conn:
            select = f"SELECT {SUMMARY_COLUMNS} FROM courier_jobs"
            rows, next_cursor = newest_first(conn, select, "job_id", where, args, limit, cursor)
        return [JobSummary(**r) for r in rows], next_cursor

    def cancel(self, job_id: str, visible_to: str | None = None) -> tuple[JobOut, str | None]:
        """Cancel a job that is not final; return it and the upstream id to cancel there (if it was running).
        :class:`JobNotFound` also for a job ``visible_to`` (when not None) did not create."""
        with self.connect() as conn:
            row = conn.execute(
                f"""UPDATE courier_jobs j SET status = {CANCELLED}, finished_at = now(), claim_token = NULL,
                    error = 'cancelled by the client'
                FROM (SELECT job_id, retries, upstream_id AS old_upstream FROM courier_jobs
                      WHERE job_id = %(id)s AND {MINE} FOR UPDATE) old
                WHERE j.job_id = old.job_id AND j.status = ANY(%(from)s)
                RETURNING {", ".join("j." + c.strip() for c in COLUMNS.split(","))}, old.old_upstream""",
                {"id": job_id, "who": visible_to, "from": rules.sources(Status.CANCELLED)},
            ).fetchone()
            if row is not None:
                conn.execute(
                    END_ATTEMPT,
                    {"id": job_id, "attempt": row["retries"] + 1, "outcome": "cancelled", "error": None},
                )
                return to_out(row), row["old_upstream"]
        raise JobNotCancellable(self.get(job_id, visible_to))
