"""The jobs store's owner side: claiming (``courier.db.claims``), each guarded move of a claimed job, the
sweep of jobs with no live owner, and the download DAG's lock-and-mark.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg

from courier.db import claims
from courier.jobs import rules
from courier.jobs.models import (
    Moved,
    Work,
)
from courier.jobs.rules import Status
from courier.jobs.store.base import (
    DOWNLOADED,
    END_ATTEMPT,
    FAILED,
    NEW_ATTEMPT,
    PROCESSING,
    QUEUED,
    SUCCESS,
    WORK_COLUMNS,
    Base,
    to_work,
)

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


class OwnerSide(Base):
    """What the ``delayed_request`` runs (owners), the sweep and the download DAG do with jobs."""

    def claim(self, owner: str, limit: int, timeout: float) -> list[Work]:
        """Move up to ``limit`` queued jobs, oldest first, to ``processing`` owned by ``owner``; start attempts."""
        with self.connect() as conn:
            rows = conn.execute(_CLAIM, {"owner": owner, "limit": limit, "timeout": timeout}).fetchall()
            work = sorted((to_work(r) for r in rows), key=lambda w: w.seq)
            if work:
                with conn.cursor() as cur:
                    cur.executemany(NEW_ATTEMPT, [{"id": w.job_id, "attempt": w.attempt, "owner": owner} for w in work])
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
        return [to_work(r) for r in rows]

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
                END_ATTEMPT, {"id": job_id, "attempt": row["retries"] + 1, "outcome": "success", "error": None}
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
            conn.execute(END_ATTEMPT, {"id": job_id, "attempt": row["before"] + 1, "outcome": outcome, "error": error})
            if row["status"] == Status.PROCESSING:
                conn.execute(NEW_ATTEMPT, {"id": job_id, "attempt": row["before"] + 2, "owner": owner})
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
                    END_ATTEMPT,
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


def _timeout() -> float:
    from courier.config import load

    return load().job_timeout
