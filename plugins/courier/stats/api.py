"""``/courier/stats``: ingest events (JSON array or NDJSON), read per-minute series, list metric names."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from pydantic import StringConstraints, TypeAdapter

from courier import metrics
from courier.api.bodies import limited
from courier.api.errors import ApiError, error_responses
from courier.db.hook import pooled
from courier.stats.ingest import NAME_PATTERN, TAG_PATTERN, EventError, Limits, TooManyEvents, check, decode, tag_filter
from courier.stats.models import Accepted, NamesOut, SeriesOut, StatEventIn
from courier.stats.store import StatsStore
from courier.wire import Rfc3339

router = APIRouter(prefix="/stats", tags=["stats"])

NDJSON = "application/x-ndjson"
_BATCH_SCHEMA = {"type": "array", "minItems": 1, "items": TypeAdapter(StatEventIn).json_schema()}
TagFilter = Annotated[str, StringConstraints(pattern=TAG_PATTERN)]


_LIMITS_TTL = 10.0
_cached_limits: tuple[float, Limits, int] | None = None


def _limits() -> tuple[Limits, int]:
    """The ``[courier] stats_*`` limits, re-read at most every 10 s."""
    global _cached_limits
    if _cached_limits is None or time.monotonic() - _cached_limits[0] > _LIMITS_TTL:
        from courier.config import load_one

        limits = Limits(
            max_events=int(load_one("stats_max_batch_events")), retention=float(load_one("stats_raw_retention"))
        )
        _cached_limits = (time.monotonic(), limits, int(load_one("stats_max_body_bytes")))
    return _cached_limits[1], _cached_limits[2]


IN_FLIGHT = 4
"""Batches stored at once per API server process; more wait (in the event loop, costing nothing)."""
_in_flight: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
_parsing = threading.Lock()
"""One batch is parsed at a time. Parsing holds the GIL, so more at once would not go faster; they would only
be more threads that the event loop (and ``GET /courier/health``) has to win the GIL from."""


def _store(body: bytes, ndjson: bool, limits: Limits, batch_id: str | None) -> Accepted:
    """Parse, check and store one batch (in the thread pool: the event loop stays free for other requests)."""
    try:
        with _parsing:
            batch = check(decode(body, ndjson=ndjson), datetime.now(UTC), limits)
    except TooManyEvents as exc:
        raise ApiError(422, str(exc), loc=("body",)) from None
    except EventError as exc:
        kind = 400 if len(exc.loc) == 1 and "not a JSON" in exc.message else 422
        raise ApiError(kind, exc.message, loc=exc.loc) from None
    accepted, duplicate = StatsStore(pooled()).ingest(batch, batch_id)  # the pool: conninfo resolved once
    if not duplicate:
        metrics.stats_ingested(accepted)
    return Accepted(accepted=accepted, duplicate=duplicate)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=error_responses(400, 413, 415),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "A JSON array of events. NDJSON (Content-Type: application/x-ndjson, one event per "
            "line) is accepted too.",
            "content": {"application/json": {"schema": _BATCH_SCHEMA}},
        }
    },
)
async def ingest(
    request: Request,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> Accepted:
    """Store a batch of events; 202 only once it is committed. One bad event: 422 naming it, nothing stored."""
    cached = _cached_limits
    if cached and time.monotonic() - cached[0] <= _LIMITS_TTL:
        limits, max_bytes = cached[1], cached[2]
    else:
        limits, max_bytes = await run_in_threadpool(_limits)
    # No Content-Type is a 415, not JSON: a form another site submits (text/plain, or none) is never read.
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("application/json", NDJSON):
        shown = repr(content_type) if content_type else "missing"
        raise ApiError(415, f"Content-Type {shown}: send application/json or {NDJSON}", loc=("header", "content-type"))
    body = await limited(request, max_bytes, "stats_max_body_bytes").body()
    global _in_flight
    loop = asyncio.get_running_loop()
    if _in_flight is None or _in_flight[0] is not loop:
        _in_flight = (loop, asyncio.Semaphore(IN_FLIGHT))
    async with _in_flight[1]:  # bounded: ingest never takes every thread-pool worker from other requests
        return await run_in_threadpool(_store, body, content_type == NDJSON, limits, idempotency_key)


MAX_SERIES_RANGE = timedelta(hours=48)
"""The longest ``from``..``to`` one ``GET /courier/stats/series`` reads (2,880 one-minute points per tag set)."""
MAX_TAG_SETS = 50
"""The most tag sets (series) one ``GET /courier/stats/series`` returns; more matching is a 422."""
MAX_TAG_FILTERS = 16


@router.get(
    "/series",
    response_model=SeriesOut,
    responses=error_responses(404),
    description=f"Per tag set, one point per minute. At most {MAX_SERIES_RANGE.total_seconds() / 3600:g} hours "
    f"between from and to, and at most {MAX_TAG_SETS} tag sets: past either, 422 naming the limit (narrow the "
    "range, or the tag sets with tag=k:v).",
)
def series(
    name: Annotated[str, Query(min_length=1, max_length=200, pattern=NAME_PATTERN)],
    tag: Annotated[
        list[TagFilter] | None,
        Query(max_length=MAX_TAG_FILTERS, description="k:v, repeatable; series whose tags include all"),
    ] = None,
    start: Annotated[Rfc3339 | None, Query(alias="from", description="RFC 3339; default one hour ago")] = None,
    end: Annotated[Rfc3339 | None, Query(alias="to", description="RFC 3339; default now")] = None,
) -> dict[str, Any]:
    """Per tag set, one point per minute: rolled-up minutes as stored, newer ones computed live (partial)."""
    end_at = _aware(end) if end else datetime.now(UTC) + timedelta(minutes=1)
    start_at = _aware(start) if start else end_at - timedelta(hours=1)
    return {"name": name, "series": tag_sets(name, tag or [], start_at, end_at)}


def tag_sets(name: str, tags: list[str], start_at: datetime, end_at: datetime) -> list[dict[str, Any]]:
    """The series of ``name`` in [start_at, end_at) whose tags include all ``tags`` (``k:v``), one per tag set
    (the route's and the stats page's); an :class:`ApiError` names a bad tag or a limit passed."""
    try:
        wanted = tag_filter(tags)
    except ValueError as exc:
        raise ApiError(422, str(exc), loc=("query", "tag")) from None
    if start_at >= end_at:
        raise ApiError(422, "from must be before to", loc=("query", "from"))
    if end_at - start_at > MAX_SERIES_RANGE:
        hours = MAX_SERIES_RANGE.total_seconds() / 3600
        raise ApiError(
            422, f"from..to spans more than {hours:g} hours, the most one request reads", loc=("query", "from")
        )
    found = StatsStore().series(name, wanted, start_at, end_at, max_sets=MAX_TAG_SETS + 1)
    if len(found) > MAX_TAG_SETS:
        raise ApiError(
            422,
            f"more than {MAX_TAG_SETS} tag sets of {name!r} match, the most one request returns: "
            "narrow them with tag=k:v",
            loc=("query", "tag"),
        )
    return found


@router.get("/names", response_model=NamesOut)
def names() -> dict[str, Any]:
    """Metric names with the tag keys seen on them."""
    return {"names": StatsStore().names()}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
