"""The jobs store's retention: final jobs by finish time with their attempts and stored results, and pushed
files no job names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from psycopg import sql

from courier.db import batches
from courier.jobs import rules
from courier.jobs.store.base import (
    FILES_TABLE,
    TABLE,
    Base,
)

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


class Cleanup(Base):
    """Retention: final jobs and unused pushed files, in batches (:mod:`courier.db.batches`)."""

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
