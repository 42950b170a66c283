"""The timers pages: timers by status with the lateness histogram of the last hour, and one timer."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from courier.api.auth import Who
from courier.api.errors import ApiError
from courier.api.ids import PathId
from courier.timers.rules import Status
from courier.timers.store import TimerNotFound, TimerStore
from courier.ui import charts
from courier.ui.insights import timers_insight
from courier.ui.render import svg
from courier.ui.screens.common import Browsing, Notice, User, cancellable_page, page_router, pretty_json

router = page_router()


@router.get("/timers")
def timers_page(request: Request, user: User, who: Who, browse: Browsing, status: Status | None = None) -> Response:
    """Timers by status (the user's own, every timer with full access), newest first; search by id; lateness
    histogram of the last hour."""
    found = browse.search(request, "timers")
    if found is not None:
        return found
    listed, next_cursor = browse.page(lambda cursor: TimerStore().list(status, 50, cursor, who.scope))
    insight = timers_insight(60, who.scope)
    bars = [
        charts.Bar(bucket_label(b.lower_ms, b.upper_ms), {"fires": float(b.count)}, b.label) for b in insight.histogram
    ]
    histogram = charts.bar_chart(
        bars, label="Lateness of the timers fired in the last hour (ms)", series=["fires"], integer=True
    )
    return cancellable_page(
        request,
        user,
        "timers",
        "timers.html",
        browse.notice,
        timers=listed,
        next_cursor=next_cursor,
        status=status,
        statuses=[str(s) for s in Status],
        insight=insight,
        histogram=svg(histogram),
    )


def bucket_label(lower: float | None, upper: float | None) -> str:
    """A short x label for a lateness bucket: ``2-5``, ``1k-5k``, ``5k+``, ``<0``."""

    def short(ms: float) -> str:
        return f"{ms / 1000:g}k" if ms >= 1000 else f"{ms:g}"

    if lower is None:
        return "<0"
    return f"{short(lower)}+" if upper is None else f"{short(lower)}-{short(upper)}"


@router.get("/timers/{timer_id}")
def timer_page(request: Request, user: User, who: Who, timer_id: PathId, notice: Notice = None) -> Response:
    """One timer with every delivery attempt; cancel while it is not final."""
    try:
        timer = TimerStore().get(timer_id, who.scope)
    except TimerNotFound:
        raise ApiError(404, f"There is no timer {timer_id!r}. Check the id, or list the timers.") from None
    return cancellable_page(
        request, user, "timers", "timer.html", notice, timer=timer, payload=pretty_json(timer.payload)
    )


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's timers section: counts, overdue and lateness of the last hour (figures of every timer),
    recent failures of ``scope``'s timers (every timer's for None)."""
    return {"insight": timers_insight(60, scope)}
