"""The reports page: recent report collections, how long the server made Courier wait, the stored CSVs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from courier.reports.api import TicketStatus, list_collections, summary
from courier.ui import charts
from courier.ui.render import render
from courier.ui.screens.common import User, page_router, timeline
from courier.wire import NO_NUL

router = page_router()

TONES = {"collected": "tone-success", "failed": "tone-failed", "pending": "tone-queued"}


@router.get("/reports")
def reports_page(
    request: Request,
    user: User,
    status: TicketStatus | None = None,
    run_id: Annotated[str | None, Query(max_length=250, pattern=NO_NUL)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Recent report collections: how long the server made Courier wait, the stored CSV and its size."""
    items, next_cursor = list_collections(status=status, run_id=run_id or None, limit=50, cursor=cursor)
    recent = list(reversed(items[:30]))
    bars = [charts.Bar(c.requested_at.strftime("%H:%M"), {c.status: c.wait_seconds}, tip=c.ticket_id) for c in recent]
    return render(
        request,
        "reports.html",
        active="reports",
        collections=items,
        next_cursor=next_cursor,
        status=status,
        run_id=run_id,
        summary=summary(24),
        **timeline(bars, label="Wait until ready, per collection (seconds)", classes=TONES),
    )


def overview() -> dict[str, Any]:
    """The overview's reports section: the day's summary, recent and failed collections."""
    recent, _ = list_collections(limit=5)
    failed, _ = list_collections(status="failed", limit=3)
    return {"summary": summary(24), "recent": recent, "failed": failed}


def run_tab(dag_id: str, run_id: str) -> dict[str, Any]:
    """A ``report_collector`` run's tab: its collections."""
    collections, _ = list_collections(dag_id=dag_id, run_id=run_id, limit=100)
    return {"collections": collections}
