"""``/courier/reports``: read what the report collector did (for the Reports page and for clients).

One row per report ticket a collector task requested (:class:`~courier.reports.store.TicketStore`): when it was
requested, how long the server kept Courier waiting and how many times Courier asked, where the CSV was stored,
its data rows and its size in bytes (recorded when it was stored; read from object storage for tickets collected
before Courier recorded it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from courier.api.auth import Who
from courier.api.errors import ApiError, error_responses
from courier.api.ids import Cursor
from courier.wire import NO_NUL

router = APIRouter(prefix="/reports", tags=["reports"])

TicketStatus = Literal["pending", "collected", "failed"]
"""PostgreSQL text cannot hold NUL: such a filter is refused as invalid rather than failing in the database."""


class Collection(BaseModel):
    """One report request of a ``report_collector`` task and what became of it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    ticket_id: str
    status: TicketStatus
    requested_at: datetime
    finished_at: datetime | None
    wait_seconds: float = Field(description="finished_at - requested_at; for a pending ticket, the wait so far.")
    polls: int | None = Field(
        description="Times Courier asked the report server whether the report was ready, summed over the task's"
        " tries (a try's polls are added when it ends, so a pending ticket shows those of its ended tries);"
        " null for tickets from before Courier counted them."
    )
    path: str | None = Field(description="Where the CSV was stored (collected tickets).")
    rows: int | None = Field(description="Data rows (without the header) of the stored CSV; null if none stored.")
    size_bytes: int | None = Field(description="Size of the stored CSV in bytes; null if none or unreadable.")
    message: str | None


class CollectionPage(BaseModel):
    collections: list[Collection]
    next_cursor: str | None


def _decode(cursor: str) -> tuple[datetime, str]:
    from courier.db.paging import decode_cursor

    try:
        return decode_cursor(cursor)
    except ValueError:
        raise ApiError(422, "cursor is not one this API handed out", loc=("query", "cursor")) from None


def stored_size(path: str | None) -> int | None:
    """Size in bytes of the object at ``path`` (``file://`` or ``s3://``); None when absent or unreadable."""
    if not path:
        return None
    from courier.storage import storage_base

    try:
        return int(storage_base(path).stat().st_size)
    except Exception:
        return None


def list_collections(
    status: TicketStatus | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    visible_to: str | None = None,
) -> tuple[list[Collection], str | None]:
    """Report tickets, newest request first (the function behind the route and the pages); only those of runs
    ``visible_to`` triggered unless it is None (full access)."""
    from courier.db.paging import encode_cursor
    from courier.reports.store import TicketStore

    filters = {"status": status, "dag_id": dag_id, "run_id": run_id}
    rows = TicketStore().recent(filters, limit + 1, _decode(cursor) if cursor else None, visible_to)
    more = len(rows) > limit
    items = [
        Collection(
            dag_id=r[0],
            run_id=r[1],
            task_id=r[2],
            map_index=r[3],
            ticket_id=r[4],
            status=r[5],
            requested_at=r[6],
            finished_at=r[7],
            path=r[8],
            message=r[9] or None,
            wait_seconds=round(float(r[10]), 3),
            polls=r[11],
            rows=r[12],
            size_bytes=(r[13] if r[13] is not None else stored_size(r[8])) if r[5] == "collected" else None,
        )
        for r in rows[:limit]
    ]
    next_cursor = encode_cursor(items[-1].requested_at, items[-1].ticket_id) if more and items else None
    return items, next_cursor


def summary(hours: int = 24) -> dict[str, Any]:
    """Counts per status and the longest wait over the last ``hours`` (for the overview)."""
    from courier.reports.store import TicketStore

    rows = TicketStore().per_status(hours)
    counts = {str(r[0]): int(r[1]) for r in rows}
    longest = max((r[2] for r in rows if r[2] is not None), default=None)
    return {"counts": counts, "longest_wait_seconds": longest, "since": datetime.now(UTC), "hours": hours}


@router.get("/collections", response_model=CollectionPage, responses=error_responses(422))
def get_collections(
    status: TicketStatus | None = None,
    dag_id: Annotated[str | None, Query(min_length=1, max_length=250, pattern=NO_NUL)] = None,
    run_id: Annotated[str | None, Query(min_length=1, max_length=250, pattern=NO_NUL)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Cursor = None,
    *,
    who: Who,
) -> dict[str, Any]:
    """Recent report collections, newest first: wait time, polls, where the CSV went, its rows and size; page with
    ``cursor``. Those of the runs you triggered (every collection with full access)."""
    items, next_cursor = list_collections(status, dag_id, run_id, limit, cursor, who.scope)
    return {"collections": items, "next_cursor": next_cursor}
