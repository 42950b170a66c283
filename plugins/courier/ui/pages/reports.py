"""The reports page: recent report collections, how long the server made Courier wait, the stored CSVs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request, Response

from courier.api.auth import Who
from courier.reports.api import NO_NUL, TicketStatus, list_collections, summary
from courier.ui import charts
from courier.ui.pages.common import User, page_router, timeline
from courier.ui.render import render

router = page_router()

TONES = {"collected": "tone-success", "failed": "tone-failed", "pending": "tone-queued"}


@router.get("/reports")
def reports_page(
    request: Request,
    user: User,
    who: Who,
    status: TicketStatus | None = None,
    run_id: Annotated[str | None, Query(max_length=250, pattern=NO_NUL)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Recent report collections: how long the server made Courier wait, the stored CSV and its size."""
    items, next_cursor = list_collections(
        status=status, run_id=run_id or None, limit=50, cursor=cursor, visible_to=who.scope
    )
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
