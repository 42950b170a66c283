"""The jobs pages: jobs per status over time with the jobs newest first, and one job."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from courier.api.auth import Who
from courier.api.errors import ApiError
from courier.api.ids import PathId
from courier.db.hook import pooled
from courier.jobs.rules import Status
from courier.jobs.store import JobNotFound, JobStore
from courier.ui import charts
from courier.ui.insights import jobs_insight
from courier.ui.render import svg
from courier.ui.screens.common import Browsing, Notice, User, cancellable_page, page_router, pretty_json

router = page_router()

TONES = {
    str(Status.QUEUED): "tone-queued",
    str(Status.PROCESSING): "tone-running",
    str(Status.SUCCESS): "tone-success",
    str(Status.DOWNLOADED): "series-0",
    str(Status.FAILED): "tone-failed",
    str(Status.CANCELLED): "tone-muted",
}
"""The colour of each job status in the charts, in the order of the chart and the filter."""


@router.get("/jobs")
def jobs_page(request: Request, user: User, who: Who, browse: Browsing, status: Status | None = None) -> Response:
    """Jobs per status over time, the jobs (the user's own, every job with full access) newest first (filter by
    status, open by id)."""
    found = browse.search(request, "jobs")
    if found is not None:
        return found
    jobs, next_cursor = browse.page(lambda cursor: JobStore(pooled()).page(status, None, 50, cursor, who.scope))
    insight = jobs_insight(6)
    bars = [charts.Bar(b.start.strftime("%H:%M"), {k: float(v) for k, v in b.counts.items()}) for b in insight.buckets]
    chart = charts.bar_chart(
        bars,
        label=f"Jobs submitted per {insight.bucket_minutes} minutes, by status now",
        series=list(TONES),
        classes=TONES,
        integer=True,
        label_every=4,
    )
    return cancellable_page(
        request,
        user,
        "jobs",
        "jobs.html",
        browse.notice,
        jobs=jobs,
        next_cursor=next_cursor,
        status=status,
        statuses=list(TONES),
        insight=insight,
        chart=svg(chart),
        legend=svg(charts.legend(list(TONES), TONES)),
    )


@router.get("/jobs/{job_id}")
def job_page(request: Request, user: User, who: Who, job_id: PathId, notice: Notice = None) -> Response:
    """One job with every attempt, its report download and cancel."""
    try:
        job = JobStore(pooled()).get(job_id, who.scope)
    except JobNotFound:
        raise ApiError(404, f"no job {job_id!r}", loc=("path", "job_id")) from None
    return cancellable_page(request, user, "jobs", "job.html", notice, job=job, params=pretty_json(job.params or None))


def overview(scope: str | None) -> dict[str, Any]:
    """The overview's jobs section: counts and the last 6 hours by status, the latest failures (``scope``'s
    jobs, every job for None)."""
    failed, _ = JobStore(pooled()).page(Status.FAILED, None, 3, None, scope)
    return {"insight": jobs_insight(6), "failed": failed}
