"""The spec work queue in the Courier database (blocking psycopg).

Planning writes one row per cell with ``seq`` = its place in the queue (longest expected duration first,
cells without history before all others). A worker claims the lowest-``seq`` open cell with ``FOR UPDATE SKIP
LOCKED``, taking a lease it renews while the cell runs; a cell whose lease ran out (its worker died) is open
again and the next claim records the lost attempt. A result counts only ``WHERE lease_owner = me AND
attempt = a``, so a stale worker cannot overwrite a newer attempt. A failed cell goes back to the queue until
it has failed ``retries + 1`` times; a cell that passes after a failure is ``flaky`` (the statuses, the order
and these rules: :mod:`courier.specs.rules`; the SQL is built from them).
"""

from __future__ import annotations

import contextlib
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from courier import metrics
from courier.db import batches, claims
from courier.db.hook import CourierDbHook, source
from courier.db.literals import literals
from courier.specs import rules
from courier.specs.models import Claim, Outcome
from courier.specs.rules import Status
from courier.specs.speclist import Cell

QUEUED, RUNNING, OPEN = literals(Status.QUEUED), literals(Status.RUNNING), literals(*rules.OPEN)
_CLAIM = claims.statement(
    "courier_spec_cells",
    "cell_key",
    alias="c",
    scope=("run_id", "%(run)s"),
    assign=f"status = {RUNNING}, attempt = c.attempt + 1, lease_owner = %(owner)s,\n"
    "    lease_until = clock_timestamp() + make_interval(secs => %(lease)s), started_at = clock_timestamp()",
    pick=f"status = {QUEUED} OR (status = {RUNNING} AND lease_until < clock_timestamp())",
    order="seq",
    limit="1",
    before="attempt AS previous, lease_owner AS previous_owner, started_at AS previous_start",
    returning="c.*, previous.previous, previous.previous_owner, previous.previous_start,\n"
    "    previous.previous_owner IS NOT NULL AS previous_lost",
)
"""The next open cell of ``%(run)s`` (lowest seq; a running one whose lease ran out too) to ``%(owner)s``, with
what the cell was before (a previous owner: its attempt was lost). See :mod:`courier.db.claims`."""


TABLE = "courier_spec_runs"
"""The table retention names spec runs by (``courier db clean --tables``)."""
# Retention: runs with a report (finished_at) before the cut-off and no cell still queued or running; a batch
# deletes their attempts, cells and runs and returns each run's report URL (its folder holds the artifacts).
_FINISHED_COUNT, _FINISHED_DELETE = batches.statements(
    "courier_spec_runs",
    "run_id",
    "finished_at < %(before)s AND NOT EXISTS (SELECT 1 FROM courier_spec_cells c"
    f" WHERE c.run_id = courier_spec_runs.run_id AND c.status IN ({OPEN}))",
    {"courier_spec_attempts": "run_id", "courier_spec_cells": "run_id"},
    paths="report_url",
)


class SpecQueue:
    """The queue of one Courier database; each call uses a connection of its own from the Courier DB hook
    (autocommit: the calls that need one open their own transaction).

    :param db: the hook to connect through, or a libpq URL (default: a plain hook).
    """

    def __init__(self, db: CourierDbHook | str | None = None) -> None:
        self.db = source(db)

    def _connect(self) -> contextlib.AbstractContextManager[psycopg.Connection[dict[str, Any]]]:
        return self.db.connection(dict_row, autocommit=True, connect_timeout=10)  # a spec pod may start slowly

    # ------------------------------------------------------------------ planning
    def history(self, keys: Iterable[str], exclude_run: str | None = None) -> dict[str, float]:
        """Median duration (ms) of each cell's latest passing attempts in earlier runs."""
        with self._connect() as conn:
            rows = conn.execute(
                f"""
                SELECT cell_key, duration_ms FROM (
                    SELECT cell_key, duration_ms,
                           row_number() OVER (PARTITION BY cell_key ORDER BY finished_at DESC) AS n
                    FROM courier_spec_attempts
                    WHERE status = {literals(rules.Outcome.PASSED)} AND cell_key = ANY(%s) AND run_id IS DISTINCT FROM %s
                ) latest WHERE n <= %s
                """,
                (list(keys), exclude_run, rules.HISTORY_RUNS),
            ).fetchall()
        durations: dict[str, list[float]] = {}
        for row in rows:
            durations.setdefault(row["cell_key"], []).append(row["duration_ms"])
        return {key: statistics.median(values) for key, values in durations.items()}

    def create_run(
        self,
        run_id: str,
        cells: Sequence[Cell],
        *,
        spec_list: str,
        workdir: str,
        base_url: str = "",
        rerun_of: str | None = None,
        filtered: dict[str, int] | None = None,
        created_by: str | None = None,
    ) -> list[tuple[Cell, float | None]]:
        """Queue ``cells`` for ``run_id`` in one transaction (replacing an earlier plan of the same run);
        ``created_by``: the run's creator (``courier.domains.run_creator``)."""
        ordered = rules.order_cells(cells, self.history((c.key for c in cells), exclude_run=run_id))
        with self._connect() as conn, conn.transaction():
            conn.execute("DELETE FROM courier_spec_runs WHERE run_id = %s", (run_id,))
            conn.execute(
                "INSERT INTO courier_spec_runs (run_id, spec_list, base_url, rerun_of, filtered, created_by) "
                "VALUES (%s, %s, %s, %s, %s, %s)",
                (run_id, spec_list, base_url, rerun_of, Jsonb(filtered or {}), created_by),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO courier_spec_cells (run_id, cell_key, spec_id, browser, viewport, width, height, "
                    "run, workdir, timeout_s, retries, seq, expected_ms) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        (
                            run_id,
                            c.key,
                            c.spec_id,
                            c.browser,
                            c.viewport,
                            c.width,
                            c.height,
                            Jsonb(list(c.run)),
                            workdir,
                            c.timeout,
                            c.retries,
                            seq,
                            expected,
                        )
                        for seq, (c, expected) in enumerate(ordered)
                    ],
                )
        return ordered

    def unfinished_keys(self, run_id: str) -> set[str]:
        """Keys of the cells of ``run_id`` that did not pass: failed, or never finished (for ``rerun_failed_of``)."""
        with self._connect() as conn:
            if conn.execute("SELECT 1 FROM courier_spec_runs WHERE run_id = %s", (run_id,)).fetchone() is None:
                raise LookupError(run_id)
            rows = conn.execute(
                f"SELECT cell_key FROM courier_spec_cells WHERE run_id = %s AND status IN ({literals(*rules.NOT_PASSED)})",
                (run_id,),
            ).fetchall()
        return {r["cell_key"] for r in rows}

    # ------------------------------------------------------------------ working
    def claim(self, run_id: str, owner: str, lease_seconds: float) -> Claim | None:
        """Take the next open cell of ``run_id`` (lowest seq) with a lease; None when none is open now."""
        with self._connect() as conn, conn.transaction():
            row = conn.execute(_CLAIM, {"run": run_id, "owner": owner, "lease": lease_seconds}).fetchone()
            if row is None:
                return None
            if row["previous_lost"]:  # the previous holder's lease ran out: keep a trace of the lost attempt
                conn.execute(
                    "INSERT INTO courier_spec_attempts (run_id, cell_key, attempt, worker, status, started_at, "
                    f"duration_ms, reason) VALUES (%s, %s, %s, %s, {literals(rules.Outcome.LOST)}, %s, "
                    "EXTRACT(EPOCH FROM clock_timestamp() - %s) * 1000, 'the worker stopped renewing its lease') "
                    "ON CONFLICT DO NOTHING",
                    (
                        run_id,
                        row["cell_key"],
                        row["previous"],
                        row["previous_owner"],
                        row["previous_start"],
                        row["previous_start"],
                    ),
                )
        return Claim(
            run_id=run_id,
            key=row["cell_key"],
            spec_id=row["spec_id"],
            browser=row["browser"],
            viewport=row["viewport"],
            width=row["width"],
            height=row["height"],
            run=tuple(row["run"]),
            workdir=row["workdir"],
            timeout=row["timeout_s"],
            retries=row["retries"],
            attempt=row["attempt"],
            failures=row["failures"],
            owner=owner,
        )

    def renew(self, claim: Claim, lease_seconds: float) -> bool:
        """Extend the lease; False when this worker no longer holds the cell (it must stop the cell)."""
        with self._connect() as conn:
            row = conn.execute(
                "UPDATE courier_spec_cells SET lease_until = clock_timestamp() + make_interval(secs => %s) "
                f"WHERE run_id = %s AND cell_key = %s AND lease_owner = %s AND attempt = %s AND status = {RUNNING} "
                "RETURNING 1",
                (lease_seconds, claim.run_id, claim.key, claim.owner, claim.attempt),
            ).fetchone()
        return row is not None

    def finish(self, claim: Claim, outcome: Outcome) -> str | None:
        """Record ``outcome`` if ``claim`` is still the current attempt; return the cell's new status, else None."""
        with self._connect() as conn, conn.transaction():
            row = conn.execute(
                "SELECT failures, retries FROM courier_spec_cells WHERE run_id = %s AND cell_key = %s "
                f"AND lease_owner = %s AND attempt = %s AND status = {RUNNING} FOR UPDATE",
                (claim.run_id, claim.key, claim.owner, claim.attempt),
            ).fetchone()
            if row is None:
                return None
            status, failures = rules.next_status(outcome.status, row["failures"], row["retries"])
            conn.execute(
                "INSERT INTO courier_spec_attempts (run_id, cell_key, attempt, worker, status, started_at, "
                "duration_ms, exit_code, reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    claim.run_id,
                    claim.key,
                    claim.attempt,
                    claim.owner,
                    outcome.status,
                    outcome.started_at,
                    outcome.duration_ms,
                    outcome.exit_code,
                    outcome.reason,
                ),
            )
            conn.execute(
                "UPDATE courier_spec_cells SET status = %s, failures = %s, lease_owner = NULL, lease_until = NULL, "
                "finished_at = clock_timestamp(), duration_ms = %s, exit_code = %s, timed_out = %s, reason = %s, "
                "output_tail = %s, artifacts = %s WHERE run_id = %s AND cell_key = %s",
                (
                    str(status),
                    failures,
                    outcome.duration_ms,
                    outcome.exit_code,
                    outcome.status == rules.Outcome.TIMED_OUT,
                    outcome.reason,
                    outcome.output_tail,
                    Jsonb(list(outcome.artifacts)),
                    claim.run_id,
                    claim.key,
                ),
            )
        metrics.spec_cell("retried" if status == Status.QUEUED else str(status))  # the cell's new status
        return status

    def open_cells(self, run_id: str) -> int:
        """How many cells of ``run_id`` are queued or running (a worker stops when this is 0)."""
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT count(*) AS n FROM courier_spec_cells WHERE run_id = %s AND status IN ({OPEN})",
                (run_id,),
            ).fetchone()
        return int(row["n"]) if row else 0

    # ------------------------------------------------------------------ retention
    def count_finished(self, before: datetime) -> dict[str, int]:
        """What :meth:`delete_finished` would delete."""
        return batches.count(self.db, _FINISHED_COUNT, {"before": before})

    def delete_finished(
        self, before: datetime, batch: int, remove_files: Callable[[list[str]], int], pause: float = 0.0
    ) -> Iterator[dict[str, int]]:
        """Delete finished runs (reported before ``before``, no open cell) with their cells and attempts,
        ``batch`` runs per transaction; ``remove_files(report URLs)`` deletes their folders before it commits."""
        yield from batches.delete_in_batches(
            self.db,
            _FINISHED_DELETE,
            {"before": before},
            primary=TABLE,
            batch=batch,
            remove_files=remove_files,
            pause=pause,
        )

    # ------------------------------------------------------------------ reading
    def get_run(self, run_id: str, visible_to: str | None = None) -> dict[str, Any] | None:
        """The run (None: no such run, or ``visible_to``, when not None, did not create it)."""
        with self._connect() as conn:
            return conn.execute(
                "SELECT * FROM courier_spec_runs WHERE run_id = %s AND (%s::text IS NULL OR created_by = %s)",
                (run_id, visible_to, visible_to),
            ).fetchone()

    def cells(self, run_id: str) -> list[dict[str, Any]]:
        """Every cell of ``run_id`` in queue order, each with its ``attempts`` (oldest first)."""
        with self._connect() as conn:
            cells = conn.execute(
                "SELECT * FROM courier_spec_cells WHERE run_id = %s ORDER BY seq", (run_id,)
            ).fetchall()
            attempts = conn.execute(
                "SELECT cell_key, attempt, worker, status, started_at, finished_at, duration_ms, exit_code, reason "
                "FROM courier_spec_attempts WHERE run_id = %s ORDER BY cell_key, attempt",
                (run_id,),
            ).fetchall()
        by_cell: dict[str, list[dict[str, Any]]] = {}
        for a in attempts:
            by_cell.setdefault(a.pop("cell_key"), []).append(a)
        for cell in cells:
            cell["attempts"] = by_cell.get(cell["cell_key"], [])
        return cells

    def list_runs(self, limit: int = 50, visible_to: str | None = None) -> list[dict[str, Any]]:
        """The latest runs (only ``visible_to``'s unless None), newest first, each with its cell counts by status."""
        with self._connect() as conn:
            return conn.execute(
                """
                SELECT r.*, coalesce(c.by_status, '{}'::jsonb) AS by_status
                FROM courier_spec_runs r
                LEFT JOIN LATERAL (
                    SELECT jsonb_object_agg(status, n) AS by_status FROM (
                        SELECT status, count(*) AS n FROM courier_spec_cells WHERE run_id = r.run_id GROUP BY status
                    ) s
                ) c ON true
                WHERE %s::text IS NULL OR r.created_by = %s
                ORDER BY r.created_at DESC, r.run_id DESC LIMIT %s
                """,
                (visible_to, visible_to, limit),
            ).fetchall()

    def set_report(self, run_id: str, counts: dict[str, Any], report_url: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE courier_spec_runs SET counts = %s, report_url = %s, finished_at = clock_timestamp() "
                "WHERE run_id = %s",
                (Jsonb(counts), report_url, run_id),
            )
