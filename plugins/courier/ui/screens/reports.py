"""The reports page: recent report collections, how long the server made Courier wait, the stored CSVs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request, Response

from courier.api.auth import Who
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


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's reports section: the day's summary, recent and failed collections (of the runs ``scope``
    triggered; every collection for None)."""
    recent, _ = list_collections(limit=5, visible_to=scope)
    failed, _ = list_collections(status="failed", limit=3, visible_to=scope)
    return {"summary": summary(24), "recent": recent, "failed": failed}


def run_tab(dag_id: str, run_id: str, scope: str | None) -> dict[str, Any]:
    """A ``report_collector`` run's tab: its collections (``scope``'s, every one for None)."""
    collections, _ = list_collections(dag_id=dag_id, run_id=run_id, limit=100, visible_to=scope)
    return {"collections": collections}
