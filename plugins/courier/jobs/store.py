"""Jobs in the Courier database (blocking psycopg): the API, the DAG tasks and the trigger share this store.

Every status change is one guarded ``UPDATE … WHERE status = <expected>``; while a job is ``processing``
its ``claim_token`` names the owner (a ``delayed_request`` run), and only the owner's token moves it on, so
two actors never process one job at once and nothing moves backwards (see :mod:`courier.jobs.rules`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from courier import metrics
from courier.db import batches, claims
from courier.db.hook import CourierDbHook, source
from courier.db.paging import newest_first
from courier.jobs import rules
from courier.jobs.models import (
    AttemptOut,
    FileOut,
    JobNotCancellable,
    JobNotFound,
    JobOut,
    JobSummary,
    Moved,
    NewJob,
    Work,
    new_id,
)
from courier.jobs.rules import Status
from courier.wire import KeyReused

__all__ = ["JobNotCancellable", "JobNotFound", "JobStore", "Moved", "NewJob", "Work", "new_id"]
"""The store and the shapes it takes and returns (defined in :mod:`courier.jobs.models`)."""

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
_MINE = "(%(who)s::text IS NULL OR created_by = %(who)s)"
"""Only the objects of ``who`` (a creator), or every object when it is None (full access)."""
SYSTEM = "courier"
"""The creator of jobs Courier's own code makes without a more precise one (API callers are ``user:…``)."""


def literal(status: Status) -> str:
    """``status`` as an SQL literal (``'queued'``): written into the statement, not bound, so a partial index on
    the status matches any plan, a prepared statement's generic one included."""
    return sql.Literal(str(status)).as_string(None)


# The statuses of :mod:`courier.jobs.rules` the statements below are built from (no status is spelled here).
QUEUED = literal(Status.QUEUED)
PROCESSING = literal(Status.PROCESSING)
SUCCESS = literal(Status.SUCCESS)
FAILED = literal(Status.FAILED)
DOWNLOADED = literal(Status.DOWNLOADED)
CANCELLED = literal(Status.CANCELLED)
_CLAIM = claims.statement(
    "courier_jobs",
    "job_id",
    alias="j",
    assign=f"status = {PROCESSING}, claim_token = %(owner)s, started_at = coalesce(j.started_at, now()),\n"
    "    upstream_id = NULL, result_url = NULL, deadline_at = now() + make_interval(secs => %(timeout)s)",
    pick=f"status = {QUEUED}",
    order="seq",
    returning=", ".join("j." + c.strip() for c in WORK_COLUMNS.split(",")),
)
"""Up to ``%(limit)s`` queued jobs, oldest first, to ``processing`` owned by ``%(owner)s`` (see
:mod:`courier.db.claims`)."""
_NEW_ATTEMPT = """
INSERT INTO courier_job_attempts (job_id, attempt, owner) VALUES (%(id)s, %(attempt)s, %(owner)s)
ON CONFLICT (job_id, attempt) DO UPDATE SET started_at = now(), owner = excluded.owner, finished_at = NULL,
    outcome = NULL, upstream_id = NULL, error = NULL
"""
_END_ATTEMPT = """
UPDATE courier_job_attempts SET finished_at = now(), outcome = %(outcome)s, error = %(error)s
WHERE job_id = %(id)s AND attempt = %(attempt)s AND finished_at IS NULL
"""


TABLE = "courier_jobs"
"""The table retention names this store's jobs by (``courier db clean --tables``)."""
FILES_TABLE = "courier_job_files"
"""The table retention names pushed files by."""

# Retention. Final jobs by finish time, oldest first (partial index courier_jobs_finished, 0013); a batch
# (db/batches.py) locks them (SKIP LOCKED: a job a download run holds is left for the next clean), deletes their
# attempts and them, and returns the stored results' paths, which the caller deletes before the batch commits.
_FINISHED_COUNT, _FINISHED_DELETE = batches.statements(
    "courier_jobs",
    "job_id",
    "status IN ({final}) AND finished_at < %(before)s",
    {"courier_job_attempts": "job_id"},
    order="finished_at",
    paths="report_file_path",
)
# Pushed files no job names (any job, open or final: a final job keeps its files until it is deleted itself),
# uploaded before the cut-off. The GIN index courier_jobs_files (0013) answers "does a job name this path".
_UNUSED_FILES_DELETE = batches.statements(
    "courier_job_files",
    "file_id",
    "created_at < %(before)s AND NOT EXISTS (SELECT 1 FROM courier_jobs j"
    " WHERE j.files_to_process @> jsonb_build_array(courier_job_files.path))",
    paths="path",
)[1]
# A dry run counts the files the jobs part of the same clean frees too: jobs it would delete name nothing.
_UNUSED_FILES_COUNT = """
SELECT count(*) AS courier_job_files FROM courier_job_files f WHERE f.created_at < %(before)s
AND NOT EXISTS (SELECT 1 FROM courier_jobs j WHERE j.files_to_process @> jsonb_build_array(f.path)
                AND NOT (j.status IN ({final}) AND j.finished_at < %(jobs_before)s))
"""


def _final(template: str) -> str:
    """``template`` with ``{final}`` as the literal final statuses (so the partial index matches any plan)."""
    final = sql.SQL(", ").join(sql.Literal(str(s)) for s in rules.FINAL)
    return sql.SQL(template).format(final=final).as_string(None)


def _work(row: dict[str, Any]) -> Work:
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


class JobStore:
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

    # ------------------------------------------------------------------ files
    def add_file(self, file: FileOut, created_by: str = SYSTEM) -> None:
        with self.connect() as conn:
            conn.execute(
                "INSERT INTO courier_job_files (file_id, path, bytes, sha256, created_by) VALUES (%s, %s, %s, %s, %s)",
                (file.file_id, file.path, file.bytes, file.sha256, created_by),
            )

    def uploaded_bytes(self, hours: float = 24) -> int:
        """Bytes of the files pushed in the last ``hours`` (what ``[courier] job_upload_quota_bytes`` bounds)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(bytes), 0) AS n FROM courier_job_files"
                " WHERE created_at > now() - make_interval(secs => %s)",
                (hours * 3600,),
            ).fetchone()
        return int(row["n"]) if row else 0

    def file_paths(
        self, file_ids: list[str], conn: psycopg.Connection[dict[str, Any]] | None = None
    ) -> dict[str, tuple[str, str | None]]:
        """(stored path, who pushed it) of those of ``file_ids`` that exist."""
        with self._using(conn) as conn:
            rows = conn.execute(
                "SELECT file_id, path, created_by FROM courier_job_files WHERE file_id = ANY(%s)", (file_ids,)
            ).fetchall()
        return {r["file_id"]: (r["path"], r["created_by"]) for r in rows}

    def files_by(
        self, creators: list[str], paths: list[str], conn: psycopg.Connection[dict[str, Any]] | None = None
    ) -> set[tuple[str, str]]:
        """Which (creator, path) pairs name a file the creator may hand to the processor: one they pushed, or
        the stored report of a job of theirs."""
        with self._using(conn) as conn:
            rows = conn.execute(
                "WITH asked (by, path) AS (SELECT * FROM unnest(%(by)s::text[], %(paths)s::text[]))"
                " SELECT a.by, a.path FROM asked a WHERE"
                " EXISTS (SELECT 1 FROM courier_job_files f WHERE f.path = a.path AND f.created_by = a.by)"
                " OR EXISTS (SELECT 1 FROM courier_jobs j WHERE j.report_file_path = a.path AND j.created_by = a.by)",
                {"by": creators, "paths": paths},
            ).fetchall()
        return {(r["by"], r["path"]) for r in rows}

    # ------------------------------------------------------------------ client side
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
                f"SELECT {COLUMNS} FROM courier_jobs WHERE job_id = %(id)s AND {_MINE}",
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
                f"SELECT status, report_file_path FROM courier_jobs WHERE job_id = %(id)s AND {_MINE}",
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
                      WHERE job_id = %(id)s AND {_MINE} FOR UPDATE) old
                WHERE j.job_id = old.job_id AND j.status = ANY(%(from)s)
                RETURNING {", ".join("j." + c.strip() for c in COLUMNS.split(","))}, old.old_upstream""",
                {"id": job_id, "who": visible_to, "from": rules.sources(Status.CANCELLED)},
            ).fetchone()
            if row is not None:
                conn.execute(
                    _END_ATTEMPT,
                    {"id": job_id, "attempt": row["retries"] + 1, "outcome": "cancelled", "error": None},
                )
                return to_out(row), row["old_upstream"]
        raise JobNotCancellable(self.get(job_id, visible_to))

    # ------------------------------------------------------------------ owner side (delayed_request)
    def claim(self, owner: str, limit: int, timeout: float) -> list[Work]:
        """Move up to ``limit`` queued jobs, oldest first, to ``processing`` owned by ``owner``; start attempts."""
        with self.connect() as conn:
            rows = conn.execute(_CLAIM, {"owner": owner, "limit": limit, "timeout": timeout}).fetchall()
            work = sorted((_work(r) for r in rows), key=lambda w: w.seq)
            if work:
                with conn.cursor() as cur:
                    cur.executemany(
                        _NEW_ATTEMPT, [{"id": w.job_id, "attempt": w.attempt, "owner": owner} for w in work]
                    )
        return work

    def owned(self, owner: str, job_ids: list[str] | None = None) -> list[Work]:
        """The jobs ``owner`` still processes (optionally among ``job_ids``), in arrival order."""
        query = f"SELECT {WORK_COLUMNS} FROM courier_jobs WHERE status = {PROCESSING} AND claim_token = %s"
        args: list[Any] = [owner]
        if job_ids is not None:
            query += " AND job_id = ANY(%s)"
            args.append(job_ids)
        with self.connect() as conn:
            rows = conn.execute(query + " ORDER BY seq", args).fetchall()
        return [_work(r) for r in rows]

    def record_submit(self, job_id: str, owner: str, upstream_id: str) -> bool:
        """Remember the upstream id of the current attempt; False if ``owner`` no longer owns the job."""
        with self.connect() as conn:
            row = conn.execute(
                f"UPDATE courier_jobs SET upstream_id = %s WHERE job_id = %s AND status = {PROCESSING} "
                "AND claim_token = %s RETURNING retries",
                (upstream_id, job_id, owner),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE courier_job_attempts SET upstream_id = %s WHERE job_id = %s AND attempt = %s",
                (upstream_id, job_id, row["retries"] + 1),
            )
        return True

    def succeed(self, job_id: str, owner: str, result_url: str | None, report_path: str | None) -> Moved:
        """processing → success (with the stored report, or only the result URL for the download DAG)."""
        with self.connect() as conn:
            row = conn.execute(
                f"UPDATE courier_jobs SET status = {SUCCESS}, finished_at = now(), claim_token = NULL, error = NULL, "
                f"result_url = %s, report_file_path = %s WHERE job_id = %s AND status = {PROCESSING} "
                "AND claim_token = %s RETURNING retries, callback_url, "
                "extract(epoch FROM finished_at - created_at)::float8 AS seconds",
                (result_url, report_path, job_id, owner),
            ).fetchone()
            if row is None:
                return Moved(job_id, None)
            conn.execute(
                _END_ATTEMPT, {"id": job_id, "attempt": row["retries"] + 1, "outcome": "success", "error": None}
            )
        return Moved(job_id, Status.SUCCESS, row["callback_url"], row["seconds"])

    def attempt_failed(
        self, job_id: str, owner: str, error: str, outcome: str = "failed", timeout: float | None = None
    ) -> Moved:
        """The owner's attempt failed or timed out: retry in place once (new attempt, same owner) or fail.

        Returns ``PROCESSING`` when the job is to be resubmitted, ``FAILED`` when it is final, None when the
        owner no longer owns the job.
        """
        with self.connect() as conn:
            row = conn.execute(
                f"""UPDATE courier_jobs j SET
                       status = CASE WHEN j.retries < %(max_retries)s THEN {PROCESSING} ELSE {FAILED} END,
                       retries = CASE WHEN j.retries < %(max_retries)s THEN j.retries + 1 ELSE j.retries END,
                       finished_at = CASE WHEN j.retries < %(max_retries)s THEN NULL ELSE now() END,
                       claim_token = CASE WHEN j.retries < %(max_retries)s THEN j.claim_token END,
                       deadline_at = CASE WHEN j.retries < %(max_retries)s THEN now() + make_interval(secs => %(timeout)s) END,
                       upstream_id = CASE WHEN j.retries < %(max_retries)s THEN NULL ELSE j.upstream_id END,
                       error = %(error)s
                   FROM (SELECT job_id, retries AS before FROM courier_jobs WHERE job_id = %(id)s FOR UPDATE) old
                   WHERE j.job_id = old.job_id AND j.status = {PROCESSING} AND j.claim_token = %(owner)s
                   RETURNING j.status, old.before, j.callback_url,
                             extract(epoch FROM j.finished_at - j.created_at)::float8 AS seconds""",
                {
                    "id": job_id,
                    "owner": owner,
                    "error": error,
                    "timeout": _timeout() if timeout is None else timeout,
                    "max_retries": rules.MAX_RETRIES,
                },
            ).fetchone()
            if row is None:
                return Moved(job_id, None)
            conn.execute(_END_ATTEMPT, {"id": job_id, "attempt": row["before"] + 1, "outcome": outcome, "error": error})
            if row["status"] == Status.PROCESSING:
                conn.execute(_NEW_ATTEMPT, {"id": job_id, "attempt": row["before"] + 2, "owner": owner})
        return Moved(job_id, Status(row["status"]), row["callback_url"], row["seconds"])

    def release(self, owner: str) -> int:
        """Hand back every job ``owner`` still holds without a submitted attempt (back to queued)."""
        with self.connect() as conn:
            cur = conn.execute(
                f"UPDATE courier_jobs SET status = {QUEUED}, claim_token = NULL, deadline_at = NULL "
                f"WHERE status = {PROCESSING} AND claim_token = %s AND upstream_id IS NULL",
                (owner,),
            )
            return cur.rowcount

    # ------------------------------------------------------------------ safety net (delayed_request_sweep)
    def sweep(self, grace: float) -> list[Moved]:
        """Jobs ``processing`` more than ``grace`` seconds past their deadline have no live owner (a live one
        acts at the deadline): re-queue each once, or fail it if it was retried already. Each job changes once
        however many sweeps run at the same time."""
        with self.connect() as conn:
            rows = conn.execute(
                f"""UPDATE courier_jobs j SET
                       status = CASE WHEN j.retries < %(max_retries)s THEN {QUEUED} ELSE {FAILED} END,
                       retries = CASE WHEN j.retries < %(max_retries)s THEN j.retries + 1 ELSE j.retries END,
                       finished_at = CASE WHEN j.retries < %(max_retries)s THEN NULL ELSE now() END,
                       claim_token = NULL, deadline_at = NULL,
                       upstream_id = CASE WHEN j.retries < %(max_retries)s THEN NULL ELSE j.upstream_id END,
                       error = 'timed out with no live owner (swept)'
                   FROM (SELECT job_id, retries AS before FROM courier_jobs
                         WHERE status = {PROCESSING} AND deadline_at < now() - make_interval(secs => %(grace)s)
                         FOR UPDATE SKIP LOCKED) old
                   WHERE j.job_id = old.job_id AND j.status = {PROCESSING}
                   RETURNING j.job_id, j.status, old.before, j.callback_url,
                             extract(epoch FROM j.finished_at - j.created_at)::float8 AS seconds""",
                {"grace": grace, "max_retries": rules.MAX_RETRIES},
            ).fetchall()
            with conn.cursor() as cur:
                cur.executemany(
                    _END_ATTEMPT,
                    [
                        {"id": r["job_id"], "attempt": r["before"] + 1, "outcome": "timeout", "error": "swept"}
                        for r in rows
                    ],
                )
        return [Moved(r["job_id"], Status(r["status"]), r["callback_url"], r["seconds"]) for r in rows]

    # ------------------------------------------------------------------ delayed_request_download
    @contextlib.contextmanager
    def next_to_download(
        self, skipped: list[str]
    ) -> Iterator[tuple[psycopg.Connection[dict[str, Any]], dict[str, Any] | None]]:
        """Lock the oldest ``success`` job not in ``skipped`` for the block (``FOR UPDATE SKIP LOCKED``: overlapping
        runs never take one job twice); yield the transaction's connection and the job (None when none is left)."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT job_id, result_url, report_file_path, callback_url FROM courier_jobs "
                f"WHERE status = {SUCCESS} AND NOT (job_id = ANY(%s)) ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED",
                (skipped,),
            ).fetchone()
            yield conn, row

    def mark_downloaded(self, conn: psycopg.Connection[dict[str, Any]], job_id: str, report_path: str) -> None:
        """success → downloaded with the stored report, in the transaction of :meth:`next_to_download`."""
        conn.execute(
            f"UPDATE courier_jobs SET status = {DOWNLOADED}, downloaded_at = now(), report_file_path = %s "
            "WHERE job_id = %s AND status = ANY(%s)",
            (report_path, job_id, rules.sources(Status.DOWNLOADED)),
        )

    # ------------------------------------------------------------------ gauges for the platform (courier.metrics)
    def gauges(self) -> tuple[dict[str, int], int]:
        """Jobs per status (every status, zeros included) and the jobs ``processing`` past their deadline."""
        with self.connect() as conn:
            counts = {str(s): 0 for s in Status}
            for r in conn.execute("SELECT status, count(*) AS n FROM courier_jobs GROUP BY status"):
                counts[str(r["status"])] = int(r["n"])
            stuck = conn.execute(
                f"SELECT count(*) AS n FROM courier_jobs WHERE status = {PROCESSING} AND deadline_at < now()"
            ).fetchone()
        return counts, int(stuck["n"]) if stuck else 0

    # ------------------------------------------------------------------ figures for the pages (courier.ui.insights)
    # ------------------------------------------------------------------ retention
    def count_finished(self, before: datetime) -> dict[str, int]:
        """What :meth:`delete_finished` would delete: final jobs finished before ``before``, their attempts."""
        return batches.count(self.db, _final(_FINISHED_COUNT), {"before": before})

    def delete_finished(
        self, before: datetime, batch: int, remove_files: Callable[[list[str]], int], pause: float = 0.0
    ) -> Iterator[dict[str, int]]:
        """Delete final jobs (:data:`rules.FINAL`) finished before ``before`` with their attempts, ``batch`` per
        transaction; ``remove_files(paths)`` deletes their stored results before each batch commits."""
        yield from batches.delete_in_batches(
            self.db,
            _final(_FINISHED_DELETE),
            {"before": before},
            primary=TABLE,
            batch=batch,
            remove_files=remove_files,
            pause=pause,
        )

    def count_unused_files(self, before: datetime, jobs_before: datetime | None = None) -> dict[str, int]:
        """What :meth:`delete_unused_files` would delete — after :meth:`delete_finished` of ``jobs_before``
        when given (the jobs part of the same clean)."""
        jobs_cut = jobs_before or datetime.min.replace(tzinfo=UTC)
        return batches.count(self.db, _final(_UNUSED_FILES_COUNT), {"before": before, "jobs_before": jobs_cut})

    def delete_unused_files(
        self, before: datetime, batch: int, remove_files: Callable[[list[str]], int], pause: float = 0.0
    ) -> Iterator[dict[str, int]]:
        """Delete pushed files uploaded before ``before`` that no job names, rows and objects (the objects
        through ``remove_files`` before each batch commits)."""
        yield from batches.delete_in_batches(
            self.db,
            _UNUSED_FILES_DELETE,
            {"before": before},
            primary=FILES_TABLE,
            batch=batch,
            remove_files=remove_files,
            pause=pause,
        )

    def figures(self, bucket_minutes: int, buckets: int) -> dict[str, Any]:
        """Jobs per status, processing jobs past their deadline, the end of the current ``bucket_minutes`` bucket,
        the database's now, and per (bucket start, status now) the jobs created in the last ``buckets`` buckets."""
        with self.connect() as conn:
            counts = {
                str(r["status"]): int(r["n"])
                for r in conn.execute("SELECT status, count(*) AS n FROM courier_jobs GROUP BY status")
            }
            overdue = conn.execute(
                f"SELECT count(*) AS n FROM courier_jobs WHERE status = {PROCESSING} AND deadline_at < now()"
            ).fetchone()
            now = conn.execute(
                "SELECT date_bin(make_interval(mins => %s), now(), timestamptz '2000-01-01')"
                " + make_interval(mins => %s) AS end, now() AS now",
                (bucket_minutes, bucket_minutes),
            ).fetchone()
            assert now is not None and overdue is not None
            rows = conn.execute(
                "SELECT date_bin(make_interval(mins => %s), created_at, timestamptz '2000-01-01') AS b, status,"
                " count(*) AS n FROM courier_jobs WHERE created_at >= %s - make_interval(mins => %s) GROUP BY b, status",
                (bucket_minutes, now["end"], bucket_minutes * buckets),
            ).fetchall()
        return {
            "counts": counts,
            "overdue": int(overdue["n"]),
            "end": now["end"],
            "now": now["now"],
            "created": [(r["b"], str(r["status"]), int(r["n"])) for r in rows],
        }

    def queued_count(self) -> int:
        with self.connect() as conn:
            row = conn.execute(f"SELECT count(*) AS n FROM courier_jobs WHERE status = {QUEUED}").fetchone()
        return int(row["n"]) if row else 0


def _timeout() -> float:
    from courier.config import load

    return load().job_timeout
