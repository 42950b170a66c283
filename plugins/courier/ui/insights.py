"""Read routes the pages need that no domain router has: aggregate views of the domains, from their stores.

Mounted as ``/courier/insights/<domain>`` with that domain's ``access(...)`` dependency, so they are
authorized exactly like the domain's routes; the pages call the same functions in-process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from courier.api.auth import Who
from courier.timers.models import TimerOut

timers_router = APIRouter(prefix="/insights/timers", tags=["insights"])

LATENESS_EDGES_MS = (0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 5000.0)
"""Lower edges of the lateness histogram's buckets (ms); below the first is "early", past the last is open."""


class Bucket(BaseModel):
    label: str = Field(description="The bucket's range, e.g. '2-5 ms'.")
    lower_ms: float | None
    upper_ms: float | None
    count: int


class TimersInsight(BaseModel):
    """What the timers are doing now and how late the last ``window_minutes`` fired."""

    counts: dict[str, int] = Field(description="Timers per status (all time).")
    late_now: int = Field(description="Open timers whose next attempt is more than a second overdue.")
    window_minutes: int
    fired_in_window: int
    lateness_ms: dict[str, float | None] = Field(description="p50, p95, p99 and max lateness of the window's fires.")
    histogram: list[Bucket]
    recent_problems: list[TimerOut] = Field(
        description="Your timers (every timer with full access) that failed or expired in the last 24 hours."
    )
    computed_at: datetime


def _label(lower: float | None, upper: float | None) -> str:
    if lower is None:
        return "early"
    if upper is None:
        return f"≥{lower:g} ms"
    return f"{lower:g}-{upper:g} ms"


def timers_insight(window_minutes: int = 60, visible_to: str | None = None) -> TimersInsight:
    """Counts, overdue timers, the lateness histogram and percentiles of the window (figures of every timer),
    recent failures (only ``visible_to``'s timers, unless None)."""
    from courier.timers.store import TimerStore

    edges = list(LATENESS_EDGES_MS)
    found = TimerStore().figures(window_minutes, edges, visible_to)
    by_bucket = found["bins"]
    histogram = []
    for index in range(len(edges) + 1):  # width_bucket: 0 below the first edge, i for [edges[i-1], edges[i])
        lower = edges[index - 1] if index > 0 else None
        upper = edges[index] if index < len(edges) else None
        if index == 0 and not by_bucket.get(0):
            continue  # no early fires: leave the bucket out
        histogram.append(
            Bucket(label=_label(lower, upper), lower_ms=lower, upper_ms=upper, count=by_bucket.get(index, 0))
        )
    percentiles = found["percentiles"]
    return TimersInsight(
        counts=found["counts"],
        late_now=found["late_now"],
        window_minutes=window_minutes,
        fired_in_window=found["fired"],
        lateness_ms={
            "p50": _round(percentiles[0]),
            "p95": _round(percentiles[1]),
            "p99": _round(percentiles[2]),
            "max": _round(found["max"]),
        },
        histogram=histogram,
        recent_problems=found["problems"],
        computed_at=found["now"],
    )


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


@timers_router.get("", response_model=TimersInsight)
def get_timers_insight(who: Who, window_minutes: Annotated[int, Query(ge=1, le=1440)] = 60) -> TimersInsight:
    """Timers per status, overdue timers, lateness histogram and percentiles of the last window, recent failures
    (of your timers; of every timer with full access)."""
    return timers_insight(window_minutes, who.scope)


jobs_router = APIRouter(prefix="/insights/jobs", tags=["insights"])


class JobsBucket(BaseModel):
    start: datetime = Field(description="Start of the bucket (jobs created from here to the next bucket).")
    counts: dict[str, int] = Field(description="Jobs created in the bucket, by their status now.")


class JobsInsight(BaseModel):
    """Jobs per status, and the jobs created per bucket of the last ``hours`` by their status now."""

    counts: dict[str, int] = Field(description="Jobs per status (all time).")
    overdue: int = Field(description="Processing jobs past their deadline (the sweep re-queues or fails them).")
    hours: int
    bucket_minutes: int
    buckets: list[JobsBucket]
    computed_at: datetime


def jobs_insight(hours: int = 6, buckets: int = 24) -> JobsInsight:
    """Counts per status, overdue jobs, and a time series of the jobs created in the window by status."""
    from datetime import timedelta

    from courier.jobs.store import JobStore

    bucket_minutes = max(hours * 60 // buckets, 1)
    found = JobStore().figures(bucket_minutes, buckets)
    end = found["end"]
    by_start: dict[datetime, dict[str, int]] = {}
    for start, job_status, n in found["created"]:
        by_start.setdefault(start, {})[job_status] = n
    series = [
        JobsBucket(start=start, counts=by_start.get(start, {}))
        for start in (end - timedelta(minutes=bucket_minutes * (buckets - i)) for i in range(buckets))
    ]
    return JobsInsight(
        counts=found["counts"],
        overdue=found["overdue"],
        hours=hours,
        bucket_minutes=bucket_minutes,
        buckets=series,
        computed_at=found["now"],
    )


@jobs_router.get("", response_model=JobsInsight)
def get_jobs_insight(hours: Annotated[int, Query(ge=1, le=168)] = 6) -> JobsInsight:
    """Jobs per status, overdue jobs, and the jobs created per bucket of the last ``hours`` by status."""
    return jobs_insight(hours)
