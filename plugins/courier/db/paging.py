"""Keyset pagination, newest first, over ``(created_at, <id column>)`` with an opaque cursor.

Every listing (timers, jobs, report collections) pages the same way with these.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import psycopg

from courier.wire import db_text_problem


def encode_cursor(created_at: datetime, key: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{key}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raise ValueError on a cursor this API did not hand out."""
    try:
        created, _, key = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        if not key or db_text_problem(key) is not None:
            raise ValueError("malformed cursor")
        return datetime.fromisoformat(created), key
    except (UnicodeDecodeError, binascii.Error) as exc:
        raise ValueError("malformed cursor") from exc


def newest_first(
    conn: psycopg.Connection[dict[str, Any]],
    select: str,
    key: str,
    where: list[str],
    args: list[Any],
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Run ``select`` (``SELECT … FROM table``) with ``where`` (AND-ed), one page; return rows and the next cursor."""
    where = list(where)
    args = list(args)
    if cursor:
        created, last = decode_cursor(cursor)
        where.append(f"(created_at, {key}) < (%s, %s)")
        args += [created, last]
    sql = select + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY created_at DESC, {key} DESC LIMIT %s"
    rows = conn.execute(sql, [*args, limit + 1]).fetchall()  # type: ignore[call-overload]
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]["created_at"], rows[-1][key]) if more else None)
