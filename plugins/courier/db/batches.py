"""Deleting old rows in bounded batches: what every store's retention SQL runs through.

A store passes one statement that deletes at most ``%(batch)s`` rows of its table (and their children) and
returns ONE row: a count per table it deleted from, and optionally ``paths``, the storage URLs of files that
go with those rows. Each batch is its own short transaction — no long lock, no table rewrite (plain
``DELETE``; ``VACUUM`` reuses the space) — and the files of a batch are deleted before that batch commits, so a
failed file deletion rolls its rows back instead of leaving rows without files or files without rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from psycopg.rows import dict_row

from courier.db.hook import CourierDbHook

DEFAULT_BATCH = 1000
"""Rows of the main table per batch (one transaction)."""


def delete_in_batches(
    db: CourierDbHook,
    statement: str,
    params: dict[str, Any],
    *,
    primary: str,
    batch: int = DEFAULT_BATCH,
    remove_files: Callable[[list[str]], int] | None = None,
    pause: float = 0.0,
) -> Iterator[dict[str, int]]:
    """Run ``statement`` batch after batch until a batch deletes fewer than ``batch`` rows of ``primary``;
    yield each batch's counts (``files``: objects ``remove_files`` deleted). ``pause``: seconds between batches,
    to leave the database to the live work."""
    with db.connection(dict_row, autocommit=True) as conn:
        while True:
            with conn.transaction():
                # Nothing waits on a retention commit: do not make live work wait behind its WAL flushes (a batch
                # lost in a crash is deleted again by the next clean).
                conn.execute("SET LOCAL synchronous_commit = off")
                row = conn.execute(statement, {**params, "batch": batch}).fetchone()  # type: ignore[arg-type]
                assert row is not None, "a retention statement returns one row of counts"
                paths = [p for p in (row.pop("paths", None) or []) if p]
                counts = {key: int(value or 0) for key, value in row.items()}
                if remove_files is not None:
                    counts["files"] = remove_files(paths) if paths else 0
            yield counts
            if counts[primary] < batch:
                return
            if pause:
                time.sleep(pause)


def count(db: CourierDbHook, statement: str, params: dict[str, Any]) -> dict[str, int]:
    """Run a statement that returns one row of counts (what a batch delete would delete, in total)."""
    with db.connection(dict_row, autocommit=True) as conn:
        row = conn.execute(statement, params).fetchone()  # type: ignore[arg-type]
    return {key: int(value or 0) for key, value in (row or {}).items()}


def statements(
    table: str,
    key: str,
    where: str,
    children: dict[str, str] | None = None,
    *,
    order: str | None = None,
    paths: str | None = None,
) -> tuple[str, str]:
    """Return ``(count, delete)``: the count statement and the one-batch delete statement for the rows of
    ``table`` matching ``where`` (with ``%(before)s``), with their rows in ``children`` (child table -> its column
    holding ``key``). Each count is named after its table; ``paths``: a column of ``table`` returned as ``paths``.

    A batch locks at most ``%(batch)s`` rows (``order`` first; SKIP LOCKED: nothing is waited for), then deletes
    the children and the rows **by an array of keys**, which PostgreSQL answers with key lookups (joining the
    batch instead let it hash-join the batch against a scan of the whole table). The SQL is the owner store's:
    it calls this with its own table names.
    """
    children = children or {}
    rows = f"SELECT {key} FROM {table} WHERE {where}"
    counts = [f"(SELECT count(*) FROM ({rows}) f) AS {table}"]
    counts += [f"(SELECT count(*) FROM {child} WHERE {fk} IN ({rows})) AS {child}" for child, fk in children.items()]
    count = "SELECT " + ",\n       ".join(counts)
    picked = f"SELECT {key}{', ' + paths if paths else ''} FROM {table} WHERE {where}"
    picked += f" ORDER BY {order}" if order else ""
    steps = [f"batch AS ({picked} LIMIT %(batch)s FOR UPDATE SKIP LOCKED)"]
    steps += [
        f"gone_{i} AS (DELETE FROM {child} WHERE {fk} = ANY(ARRAY(SELECT {key} FROM batch)) RETURNING 1)"
        for i, (child, fk) in enumerate(children.items())
    ]
    steps.append(
        f"gone AS (DELETE FROM {table} WHERE {key} = ANY(ARRAY(SELECT {key} FROM batch)) RETURNING {paths or 1})"
    )
    results = [f"(SELECT count(*) FROM gone) AS {table}"]
    results += [f"(SELECT count(*) FROM gone_{i}) AS {child}" for i, child in enumerate(children)]
    results += [f"(SELECT array_agg({paths}) FROM gone) AS paths"] if paths else []
    delete = "WITH " + ",\n".join(steps) + "\nSELECT " + ", ".join(results)
    return count, delete
