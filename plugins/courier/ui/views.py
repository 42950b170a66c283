"""The page routes under ``/courier/ui``: one router per Courier resource, each behind that resource's
``access(...)`` dependency (read access for these GET pages), rendering HTML from the same functions the
JSON routes use. Cancelling is done by the page calling the JSON API (``POST /courier/timers/{id}/cancel``), which
refuses a user without edit access whatever the page shows.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from courier.api.auth import RESOURCES, access, is_allowed
from courier.api.errors import ApiError, logged_reference
from courier.ui import charts, files
from courier.ui.pages.common import User, page_router
from courier.ui.render import render, svg

log = logging.getLogger(__name__)


overview = page_router()
timers = page_router()
reports = page_router()
pages = page_router()

DAG_PAGES: dict[str, str] = {dag_id: resource for resource, dag_id in RESOURCES.items() if dag_id}
"""Airflow DAG id -> the Courier resource (and page) that shows its runs."""


def readable(user: Any) -> dict[str, bool]:
    """Which Courier resources ``user`` may read (the overview shows only those)."""
    return {resource: is_allowed(user, resource, "GET") for resource, dag in RESOURCES.items() if dag}


def _timeline(bars: list[charts.Bar], *, label: str, classes: dict[str, str], y_unit: str = " s") -> dict[str, Any]:
    """A bar per recent object (oldest left), stacked by ``classes``' series, with its legend; no chart if empty."""
    series = list(classes)
    chart = charts.bar_chart(
        bars, label=label, series=series, classes=classes, y_unit=y_unit, label_every=max(len(bars) // 8, 1)
    )
    return {"chart": svg(chart) if bars else None, "legend": svg(charts.legend(series, classes))}


# ---------------------------------------------------------------------------------------------- overview
@overview.get("")
@overview.get("/")
def overview_page(request: Request, user: User) -> Response:
    """Per domain: what is happening now and what went wrong recently."""
    allowed = readable(user)
    sections: dict[str, Any] = {}
    problems: dict[str, str] = {}
    loaders: dict[str, Callable[[], Any]] = {
        "timers": lambda: _timers_overview(),
        "reports": lambda: _reports_overview(),
        "pages": lambda: _pages_overview(),
        "specs": lambda: _specs_overview(),
        "jobs": lambda: _jobs_overview(),
        "stats": lambda: _stats_overview(),
    }
    for resource, load in loaders.items():
        if not allowed.get(resource):
            continue
        try:
            sections[resource] = load()
        except Exception:  # one unavailable domain must not blank the whole dashboard
            problems[resource] = logged_reference(log, f"the {resource} overview failed")
    return render(request, "overview.html", active="overview", sections=sections, problems=problems, allowed=allowed)


def _timers_overview() -> dict[str, Any]:
    from courier.ui.insights import timers_insight

    return {"insight": timers_insight(60)}


def _reports_overview() -> dict[str, Any]:
    from courier.reports.api import list_collections, summary

    recent, _ = list_collections(limit=5)
    failed, _ = list_collections(status="failed", limit=3)
    return {"summary": summary(24), "recent": recent, "failed": failed}


def _pages_overview() -> dict[str, Any]:
    from courier.pages.api import list_manifests

    return {"recent": list_manifests(limit=5)}


def _jobs_overview() -> dict[str, Any]:
    from courier.jobs.api import list_jobs
    from courier.jobs.rules import Status
    from courier.ui.insights import jobs_insight

    failed = list_jobs(Status.FAILED, None, 3, None)["jobs"]
    return {"insight": jobs_insight(6), "failed": failed}


def _stats_overview() -> dict[str, Any]:
    from datetime import UTC, datetime

    from courier.stats.api import names as metric_names
    from courier.stats.store import StatsStore

    watermark = StatsStore().watermark()
    lag = (datetime.now(UTC) - watermark).total_seconds() if watermark else None
    return {"names": metric_names()["names"], "watermark": watermark, "lag": lag}


def _specs_overview() -> dict[str, Any]:
    from courier.specs.api import list_runs

    return {"recent": list_runs(5).runs}


@overview.get("/docs")
def docs_page(request: Request, user: User) -> Response:
    """The README, rendered (empty states link to its sections; works offline inside the iframe)."""
    from courier.ui.readme import readme_html

    return render(request, "docs.html", active="", body=svg(readme_html()))


@overview.get("/run")
def run_tab(
    request: Request,
    user: User,
    dag_id: Annotated[str, Query(min_length=1, max_length=250)],
    run_id: Annotated[str, Query(min_length=1, max_length=250)],
) -> Response:
    """The "Courier" tab of a DAG run's page in Airflow: what Courier knows about that run."""
    resource = DAG_PAGES.get(dag_id)
    if resource is not None and not is_allowed(user, resource, "GET"):
        raise ApiError(403, f"reading Courier {resource} needs read access to the Airflow DAG {dag_id!r}")
    context: dict[str, Any] = {"dag_id": dag_id, "run_id": run_id, "resource": resource, "embedded": True}
    if dag_id == RESOURCES["reports"]:
        from courier.reports.api import list_collections

        context["collections"], _ = list_collections(dag_id=dag_id, run_id=run_id, limit=100)
    elif dag_id == RESOURCES["pages"]:
        from courier.pages.api import read_manifest

        context["manifest"] = read_manifest(run_id)
        context.update(_manifest_charts(context["manifest"]))
    elif dag_id == RESOURCES["specs"]:
        try:
            context["spec_run"] = _spec_run(run_id)
        except ApiError:  # the plan task has not queued this run yet
            context["spec_run"] = None
        if context["spec_run"] is not None:
            context.update(spec_matrix(context["spec_run"]))
    return render(request, "run.html", active="", **context)


def _open_by_id(request: Request, kind: str, object_id: str) -> Response:
    """The search box: go to the object's own page (which says so if there is no such object)."""
    target = quote(object_id.strip(), safe="")
    return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/{kind}/{target}", status_code=303)


# ---------------------------------------------------------------------------------------------- timers
TimerStatus = Literal["scheduled", "firing", "retrying", "delivered", "failed", "cancelled", "expired"]


@timers.get("/timers")
def timers_page(
    request: Request,
    user: User,
    status: TimerStatus | None = None,
    id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """Timers by status, newest first; search by id; lateness histogram of the last hour."""
    from courier.timers.rules import Status
    from courier.timers.store import TimerStore
    from courier.ui.insights import timers_insight

    if id and id.strip():
        return _open_by_id(request, "timers", id)
    try:
        listed, next_cursor = TimerStore().list(Status(status) if status else None, 50, cursor)
    except ValueError:
        raise ApiError(422, "cursor is not one this page handed out", loc=("query", "cursor")) from None
    insight = timers_insight(60)
    bars = [
        charts.Bar(_bucket_label(b.lower_ms, b.upper_ms), {"fires": float(b.count)}, b.label) for b in insight.histogram
    ]
    histogram = charts.bar_chart(
        bars, label="Lateness of the timers fired in the last hour (ms)", series=["fires"], integer=True
    )
    return render(
        request,
        "timers.html",
        active="timers",
        timers=listed,
        next_cursor=next_cursor,
        status=status,
        statuses=list(get_args(TimerStatus)),
        insight=insight,
        histogram=svg(histogram),
        can_cancel=is_allowed(user, "timers", "POST"),
        notice=notice,
    )


def _bucket_label(lower: float | None, upper: float | None) -> str:
    """A short x label for a lateness bucket: ``2-5``, ``1k-5k``, ``5k+``, ``<0``."""

    def short(ms: float) -> str:
        return f"{ms / 1000:g}k" if ms >= 1000 else f"{ms:g}"

    if lower is None:
        return "<0"
    return f"{short(lower)}+" if upper is None else f"{short(lower)}-{short(upper)}"


@timers.get("/timers/{timer_id}")
def timer_page(
    request: Request,
    user: User,
    timer_id: Annotated[str, Path(min_length=1, max_length=200)],
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """One timer with every delivery attempt; cancel while it has not fired."""
    from courier.timers.store import TimerNotFound, TimerStore

    try:
        timer = TimerStore().get(timer_id)
    except TimerNotFound:
        raise ApiError(404, f"There is no timer {timer_id!r}. Check the id, or list the timers.") from None
    return render(
        request,
        "timer.html",
        active="timers",
        timer=timer,
        payload=json.dumps(timer.payload, indent=2, ensure_ascii=False) if timer.payload is not None else None,
        can_cancel=is_allowed(user, "timers", "POST"),
        notice=notice,
    )


# ---------------------------------------------------------------------------------------------- reports
@reports.get("/reports")
def reports_page(
    request: Request,
    user: User,
    status: Literal["pending", "collected", "failed"] | None = None,
    run_id: Annotated[str | None, Query(max_length=250, pattern=r"^[^\x00]*$")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    """Recent report collections: how long the server made Courier wait, the stored CSV and its size."""
    from courier.reports.api import list_collections, summary

    items, next_cursor = list_collections(status, None, run_id or None, 50, cursor)
    recent = list(reversed(items[:30]))
    bars = [charts.Bar(c.requested_at.strftime("%H:%M"), {c.status: c.wait_seconds}, tip=c.ticket_id) for c in recent]
    classes = {"collected": "tone-success", "failed": "tone-failed", "pending": "tone-queued"}
    return render(
        request,
        "reports.html",
        active="reports",
        collections=items,
        next_cursor=next_cursor,
        status=status,
        run_id=run_id,
        summary=summary(24),
        **_timeline(bars, label="Wait until ready, per collection (seconds)", classes=classes),
    )


# ---------------------------------------------------------------------------------------------- pages
@pages.get("/pages")
def pages_page(
    request: Request,
    user: User,
    status: Literal["success", "failed"] | None = None,
) -> Response:
    """Recent fan-out runs from their manifests: pages, failed pages, rows, timings."""
    from courier.pages.api import list_manifests

    manifests = list_manifests(status, 50)
    recent = list(reversed(manifests[:30]))
    classes = {"fetch": "series-0", "other": "series-4"}
    bars = [
        charts.Bar(
            m.created_at.strftime("%H:%M"),
            {
                "fetch": m.fetch_wall_seconds or 0.0,
                "other": max((m.total_seconds or 0.0) - (m.fetch_wall_seconds or 0.0), 0.0),
            },
            tip=m.run_id,
        )
        for m in recent
    ]
    return render(
        request,
        "pages.html",
        active="pages",
        manifests=manifests,
        status=status,
        **_timeline(bars, label="Seconds per fan-out run: fetching pages, and everything else", classes=classes),
    )


def _manifest_charts(manifest: Any) -> dict[str, Any]:
    if manifest is None or not manifest.per_batch:
        return {"batch_chart": None}
    bars = [
        charts.Bar(str(b.get("index", i)), {"seconds": float(b.get("seconds") or 0.0)}, tip=str(b.get("label", "")))
        for i, b in enumerate(manifest.per_batch)
    ]
    chart = charts.bar_chart(
        bars, label="Seconds per batch", series=["seconds"], y_unit=" s", label_every=max(len(bars) // 16, 1)
    )
    return {"batch_chart": svg(chart)}


@pages.get("/pages/{run_id}")
def manifest_page(request: Request, user: User, run_id: str) -> Response:
    """One fan-out run's manifest: failed pages with their errors, HTTP statuses, per-batch timings."""
    from courier.pages.api import read_manifest

    manifest = read_manifest(run_id)
    if manifest is None:
        raise ApiError(404, f"No manifest for run {run_id!r}: not a paginated_fanout run, or it has not merged yet.")
    return render(request, "manifest.html", active="pages", manifest=manifest, **_manifest_charts(manifest))


# ---------------------------------------------------------------------------------------------- jobs
jobs = page_router()

JOB_TONES = {
    "queued": "tone-queued",
    "processing": "tone-running",
    "success": "tone-success",
    "downloaded": "series-0",
    "failed": "tone-failed",
    "cancelled": "tone-muted",
}
JobStatus = Literal["queued", "processing", "success", "failed", "downloaded", "cancelled"]


@jobs.get("/jobs")
def jobs_page(
    request: Request,
    user: User,
    status: JobStatus | None = None,
    id: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """Jobs per status over time, the jobs newest first (filter by status, open by id)."""
    from courier.jobs.api import list_jobs
    from courier.jobs.rules import Status
    from courier.ui.insights import jobs_insight

    if id and id.strip():
        return _open_by_id(request, "jobs", id)
    page = list_jobs(Status(status) if status else None, None, 50, cursor)
    insight = jobs_insight(6)
    bars = [charts.Bar(b.start.strftime("%H:%M"), {k: float(v) for k, v in b.counts.items()}) for b in insight.buckets]
    chart = charts.bar_chart(
        bars,
        label=f"Jobs submitted per {insight.bucket_minutes} minutes, by status now",
        series=list(JOB_TONES),
        classes=JOB_TONES,
        integer=True,
        label_every=4,
    )
    return render(
        request,
        "jobs.html",
        active="jobs",
        jobs=page["jobs"],
        next_cursor=page["next_cursor"],
        status=status,
        statuses=list(JOB_TONES),
        insight=insight,
        chart=svg(chart),
        legend=svg(charts.legend(list(JOB_TONES), JOB_TONES)),
        can_cancel=is_allowed(user, "jobs", "POST"),
        notice=notice,
    )


@jobs.get("/jobs/{job_id}")
def job_page(
    request: Request,
    user: User,
    job_id: Annotated[str, Path(min_length=1, max_length=200)],
    notice: Annotated[str | None, Query(max_length=300)] = None,
) -> Response:
    """One job with every attempt, its report download and cancel."""
    from courier.jobs.api import get_job

    job = get_job(job_id)  # the API's own 404
    return render(
        request,
        "job.html",
        active="jobs",
        job=job,
        params=json.dumps(job.params, indent=2, ensure_ascii=False) if job.params else None,
        can_cancel=is_allowed(user, "jobs", "POST"),
        notice=notice,
    )


# ---------------------------------------------------------------------------------------------- stats
stats = page_router()

RANGES = ((15, "15 minutes"), (60, "1 hour"), (360, "6 hours"), (1440, "24 hours"))
PERCENTILES = {"p50": "series-0", "p95": "series-3", "p99": "series-1"}
MAX_PANELS = 6


def _stat_panel(found: dict[str, Any]) -> dict[str, Any]:
    """Charts of one tag set: count per minute, and p50/p95/p99 per minute."""
    points = sorted(found["points"], key=lambda p: p["minute"])
    times = [p["minute"] for p in points]
    count_chart = charts.bar_chart(
        [charts.Bar(t.strftime("%H:%M"), {"count": float(p["count"])}) for t, p in zip(times, points, strict=True)],
        label="Events per minute",
        series=["count"],
        classes={"count": "series-5"},
        integer=True,
        label_every=max(len(points) // 6, 1),
    )
    lines = {q: [float(p[q]) for p in points] for q in PERCENTILES}
    percentile_chart = charts.line_chart(times, dict(lines), label="p50, p95 and p99 per minute", classes=PERCENTILES)
    tags_text = ", ".join(f"{k}:{v}" for k, v in sorted(found["tags"].items()))
    return {
        "tags_text": tags_text,
        "total": sum(int(p["count"]) for p in points),
        "minutes": len(points),
        "partial": sum(1 for p in points if p["partial"]),
        "last": float(points[-1]["last"]) if points else None,
        "count_chart": svg(count_chart),
        "percentile_chart": svg(percentile_chart),
        "legend": svg(charts.legend(list(PERCENTILES), PERCENTILES)),
    }


@stats.get("/stats")
def stats_page(
    request: Request,
    user: User,
    name: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    tags: Annotated[str | None, Query(max_length=1000, pattern=r"^[^\x00]*$")] = None,
    minutes: Annotated[int, Query(ge=1, le=1440, description="time range: the last this many minutes")] = 60,
) -> Response:
    """Pick a metric (name + tags) and a time range: count and p50/p95/p99 per minute, one panel per tag set."""
    from datetime import UTC, datetime, timedelta

    from courier.stats.api import names as metric_names
    from courier.stats.api import series

    known = metric_names()["names"]
    chosen = name or (known[0]["name"] if known else None)
    tag_keys: list[str] = next((n["tag_keys"] for n in known if n["name"] == chosen), [])
    wanted = [t.strip() for t in (tags or "").split(",") if t.strip()]
    panels: list[dict[str, Any]] = []
    problem = None
    more = 0
    if chosen:
        end = datetime.now(UTC) + timedelta(minutes=1)
        try:
            found = series(chosen, wanted or None, end - timedelta(minutes=minutes + 1), end)["series"]
        except ApiError as exc:
            problem, found = "; ".join(str(d["msg"]) for d in exc.detail), []
        found = [dict(f) if isinstance(f, dict) else f.model_dump() for f in found]
        found.sort(key=lambda f: -sum(int(p["count"]) for p in f["points"]))  # busiest tag sets first
        panels = [_stat_panel(f) for f in found[:MAX_PANELS] if f["points"]]
        more = max(len(found) - MAX_PANELS, 0)
    return render(
        request,
        "stats.html",
        active="stats",
        names=known,
        name=chosen,
        tag_keys=tag_keys,
        tags_text=", ".join(wanted),
        minutes=minutes,
        ranges=RANGES,
        panels=panels,
        problem=problem,
        more=more,
    )


# ---------------------------------------------------------------------------------------------- specs
specs = page_router()

CELL_MARKS = {"passed": "✓", "failed": "✗", "flaky": "⚑", "skipped": "○", "queued": "…", "running": "▶"}
SPEC_TONES = {
    s: f"tone-{t}"
    for s, t in (
        ("passed", "success"),
        ("failed", "failed"),
        ("flaky", "warning"),
        ("skipped", "muted"),
        ("queued", "queued"),
        ("running", "running"),
    )
}


def spec_matrix(run: Any) -> dict[str, Any]:
    """The run's cells as a spec x (browser, viewport) grid, plus a duration chart; a missing cell was filtered."""
    columns = sorted({(c.browser, c.viewport) for c in run.cells})
    browsers: list[tuple[str, int]] = []
    for browser, _ in columns:
        if browsers and browsers[-1][0] == browser:
            browsers[-1] = (browser, browsers[-1][1] + 1)
        else:
            browsers.append((browser, 1))
    spec_ids = sorted({c.spec_id for c in run.cells})
    grid = {(c.spec_id, c.browser, c.viewport): c for c in run.cells}
    rows = [(spec, [grid.get((spec, b, v)) for b, v in columns]) for spec in spec_ids]
    timed = sorted((c for c in run.cells if c.duration_ms is not None), key=lambda c: c.seq)
    bars = [charts.Bar(f"{c.spec_id[:10]}", {c.status: (c.duration_ms or 0) / 1000}, tip=c.name) for c in timed]
    chart = charts.bar_chart(
        bars,
        label="Duration per cell, in queue order (seconds)",
        series=list(SPEC_TONES),
        classes=SPEC_TONES,
        y_unit=" s",
        label_every=max(len(bars) // 10, 1),
    )
    return {
        "columns": columns,
        "browsers": browsers,
        "rows": rows,
        "marks": CELL_MARKS,
        "problems": [c for c in run.cells if c.status in ("failed", "flaky")],
        "total_seconds": sum(c.duration_ms or 0 for c in run.cells) / 1000,
        "duration_chart": svg(chart) if bars else None,
        "duration_legend": svg(charts.legend([s for s in SPEC_TONES if any(c.status == s for c in timed)], SPEC_TONES)),
        "filtered_total": sum((run.filtered or {}).values()),
    }


def _spec_run(run_id: str) -> Any:
    from courier.specs.api import get_run

    return get_run(run_id)  # raises the API's own 404


@specs.get("/specs")
def specs_page(request: Request, user: User) -> Response:
    """The latest spec_matrix runs with their cells counted by outcome."""
    from courier.specs.api import list_runs

    runs = list_runs(50).runs
    return render(request, "specs.html", active="specs", runs=runs)


@specs.get("/specs/{run_id}")
def spec_run_page(request: Request, user: User, run_id: Annotated[str, Path(min_length=1, max_length=250)]) -> Response:
    """One spec_matrix run: the matrix coloured by outcome, flaky cells marked, durations, artifacts."""
    run = _spec_run(run_id)
    return render(request, "spec_run.html", active="specs", run=run, **spec_matrix(run))


# ---------------------------------------------------------------------------------------------- wiring
PAGE_ROUTERS: list[tuple[str, APIRouter]] = [
    ("meta", overview),
    ("timers", timers),
    ("jobs", jobs),
    ("stats", stats),
    ("reports", reports),
    ("pages", pages),
    ("specs", specs),
    ("specs", files.router),
]
"""(resource, router): each router is included behind ``access(resource)``."""


def install(app: FastAPI) -> None:
    """Include the page routers in the Courier app, each behind its resource's ``access(...)`` dependency."""
    from courier.ui import render as rendering

    for resource, router in PAGE_ROUTERS:
        app.include_router(router, dependencies=[access(resource)])
        rendering.ENABLED.add(resource)
