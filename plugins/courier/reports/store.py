"""Pending report tickets in the Courier database, keyed by task instance (survives task retries)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from courier.db import batches
from courier.db.hook import CourierDbHook, source
from courier.db.literals import literals
from courier.reports.rules import CLOSED, TicketStatus

TABLE = "courier_report_tickets"
"""The table retention names this store's tickets by (``courier db clean --tables``)."""
# Retention: closed tickets by finish time (a pending ticket is what a retry resumes: never deleted). One row
# per collection, a few thousand a month: no index of its own is needed.
_FINISHED_COUNT, _FINISHED_DELETE = batches.statements(
    "courier_report_tickets", "ctid", f"status IN ({literals(*CLOSED)}) AND finished_at < %(before)s"
)  # ctid: the row's address, stable while the batch holds the row's lock (the key has five columns)


@dataclass(frozen=True)
class TaskKey:
    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1


class TicketStore:
    """Remember which ticket a task instance is waiting for; read what the collector did (the reports API).

    :param db: the hook to connect through, or a libpq URL (default: a plain hook on the ``courier_db``
        connection).
    """

    def __init__(self, db: CourierDbHook | str | None = None) -> None:
        self.db = source(db)

    def pending(self, key: TaskKey) -> str | None:
        """Return the ticket this task instance is still waiting for, if any."""
        with self.db.connection() as conn:
            row = conn.execute(
                "SELECT ticket_id FROM courier_report_tickets WHERE dag_id = %s AND run_id = %s AND task_id = %s"
                f" AND map_index = %s AND status = {literals(TicketStatus.PENDING)}",
                (key.dag_id, key.run_id, key.task_id, key.map_index),
            ).fetchone()
        return str(row[0]) if row else None

    def add(self, key: TaskKey, ticket_id: str, created_by: str | None = None) -> None:
        """Remember the ticket; ``created_by``: the run's creator (``courier.domains.run_creator``), by default
        ``dag:<dag_id>``."""
        with self.db.connection() as conn:
            conn.execute(
                "INSERT INTO courier_report_tickets (dag_id, run_id, task_id, map_index, ticket_id, created_by)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (key.dag_id, key.run_id, key.task_id, key.map_index, ticket_id, created_by or f"dag:{key.dag_id}"),
            )

    def finish(
        self,
        key: TaskKey,
        ticket_id: str,
        status: str,
        *,
        path: str | None = None,
        message: str = "",
        polls: int = 0,
        rows: int | None = None,
        size_bytes: int | None = None,
    ) -> None:
        """Close the ticket: ``polls`` are added to those of earlier tries; ``rows``/``size_bytes`` of the stored CSV."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE courier_report_tickets SET status = %s, finished_at = now(), path = %s, message = %s,"
                " polls = coalesce(polls, 0) + %s, row_count = %s, size_bytes = %s"
                " WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s AND ticket_id = %s",
                (status, path, message[:1000], polls, rows, size_bytes, *_where(key, ticket_id)),
            )

    def count_polls(self, key: TaskKey, ticket_id: str, polls: int) -> None:
        """Add the polls of a try that gave up waiting (the ticket stays pending: the next try resumes it)."""
        with self.db.connection() as conn:
            conn.execute(
                "UPDATE courier_report_tickets SET polls = coalesce(polls, 0) + %s"
                " WHERE dag_id = %s AND run_id = %s AND task_id = %s AND map_index = %s AND ticket_id = %s",
                (polls, *_where(key, ticket_id)),
            )

    def count_finished(self, before: datetime) -> dict[str, int]:
        """What :meth:`delete_finished` would delete."""
        return batches.count(self.db, _FINISHED_COUNT, {"before": before})

    def delete_finished(self, before: datetime, batch: int, pause: float = 0.0) -> Iterator[dict[str, int]]:
        """Delete collected and failed tickets closed before ``before``, ``batch`` per transaction."""
        yield from batches.delete_in_batches(
            self.db, _FINISHED_DELETE, {"before": before}, primary=TABLE, batch=batch, pause=pause
        )

    def recent(
        self,
        filters: dict[str, str | None],
        limit: int,
        after: tuple[datetime, str] | None,
        visible_to: str | None = None,
    ) -> list[tuple[Any, ...]]:
        """Up to ``limit`` tickets, newest request first, matching ``filters`` (``status``, ``dag_id``, ``run_id``;
        None: any), requested before the ``after`` (requested_at, ticket_id) cursor position; only those created
        by ``visible_to`` unless it is None.

        Each row: dag_id, run_id, task_id, map_index, ticket_id, status, requested_at, finished_at, path,
        message, seconds waited (so far, when pending), polls, row_count, size_bytes."""
        where: list[str] = []
        args: list[Any] = []
        for column in ("status", "dag_id", "run_id"):
            if filters.get(column) is not None:
                where.append(f"{column} = %s")
                args.append(filters[column])
        if visible_to is not None:
            where.append("created_by = %s")
            args.append(visible_to)
        if after is not None:
            where.append("(requested_at, ticket_id) < (%s, %s)")
            args += list(after)
        sql = (
            "SELECT dag_id, run_id, task_id, map_index, ticket_id, status, requested_at, finished_at, path, message,"
            " extract(epoch FROM coalesce(finished_at, now()) - requested_at) AS waited, polls, row_count, size_bytes"
            " FROM courier_report_tickets"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY requested_at DESC, ticket_id DESC LIMIT %s"
        )
        with self.db.connection() as conn:
            return conn.execute(sql, [*args, limit]).fetchall()

    def per_status(self, hours: int) -> list[tuple[str, int, float | None]]:
        """(status, tickets, longest wait in seconds) of the tickets requested in the last ``hours``."""
        with self.db.connection() as conn:
            rows = conn.execute(
                "SELECT status, count(*), max(extract(epoch FROM coalesce(finished_at, now()) - requested_at))"
                " FROM courier_report_tickets WHERE requested_at > now() - make_interval(hours => %s) GROUP BY status",
                (hours,),
            ).fetchall()
        return [(str(r[0]), int(r[1]), None if r[2] is None else float(r[2])) for r in rows]


def _where(key: TaskKey, ticket_id: str) -> tuple[str, str, str, int, str]:
    return (key.dag_id, key.run_id, key.task_id, key.map_index, ticket_id)
