"""The jobs store's figures: jobs per status, stuck ones, what the jobs page charts."""

from __future__ import annotations

from typing import Any

from courier.jobs.rules import Status
from courier.jobs.store.base import (
    PROCESSING,
    QUEUED,
    Base,
)


class Figures(Base):
    """Counts for the platform's gauges (:mod:`courier.metrics`) and the pages (:mod:`courier.ui.insights`)."""

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
