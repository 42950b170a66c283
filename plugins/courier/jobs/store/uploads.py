"""The jobs store's pushed files: recording them, the upload quota's count, resolving what a job names."""

from __future__ import annotations

from typing import Any

import psycopg

from courier.jobs.models import (
    FileOut,
)
from courier.jobs.store.base import (
    SYSTEM,
    Base,
)


class Uploads(Base):
    """Pushed files (``POST /courier/jobs/files``) and which of them a creator may name."""

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
