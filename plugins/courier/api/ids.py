"""The path ids and list cursors every route takes, with the bounds the OpenAPI document states.

PostgreSQL cannot compare a NUL character with ``text``: an id or cursor carrying one (``/courier/timers/%00``)
failed the query, a 500. Every id and cursor parameter is declared here instead, so it is a 422 naming the
parameter before a store is asked (and :func:`courier.db.paging.decode_cursor` refuses a decoded cursor key
PostgreSQL could not take, for callers outside the API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from courier.wire import NO_NUL

MAX_ID = 250
MAX_CURSOR = 500

PathId = Annotated[
    str,
    Path(min_length=1, max_length=MAX_ID, pattern=NO_NUL, description="The object's id (no NUL, at most 250 chars)."),
]
"""An object's id in a route's path."""
Cursor = Annotated[
    str | None,
    Query(max_length=MAX_CURSOR, pattern=NO_NUL, description="The next_cursor of the previous page."),
]
"""A list's ``cursor`` query parameter (an opaque value an earlier page handed out)."""
