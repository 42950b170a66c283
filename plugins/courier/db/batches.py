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
