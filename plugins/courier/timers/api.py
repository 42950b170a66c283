"""``/courier/timers``: create (one or a batch), read, list and cancel webhook timers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool

from courier.api.auth import Who
from courier.api.bodies import json_body, json_request
from courier.api.errors import ApiError, error_responses
from courier.api.ids import Cursor, PathId
from courier.api.ratelimit import RateLimit
from courier.timers.models import (
    MAX_PAGE,
    FieldError,
    NewTimer,
    TimerBatchIn,
    TimerIn,
    TimerOut,
    TimerPage,
    new_id,
    new_timer,
)
from courier.timers.rules import Status
from courier.timers.store import TimerNotCancellable, TimerNotFound, TimerStore
from courier.webhooks.policy import TooManyHosts, aprefetch
from courier.wire import KeyReused

router = APIRouter(prefix="/timers", tags=["timers"])
CREATE_RATE = RateLimit("timer_create_rate", "timers")
"""Timers per user per minute (``[courier] timer_create_rate``), counted before anything else is checked."""


def _rate_limited(who: Who, count: int) -> None:
    from courier.config import load_one

    CREATE_RATE.take(who.creator, count, float(load_one("timer_create_rate")))


def _store(timers: list[NewTimer], who: Who, locs: list[tuple[str | int, ...]]) -> list[tuple[TimerOut, bool]]:
    """Store ``timers`` as ``who``'s; 409 naming each idempotency key ``who`` used before for another request."""
    try:
        return TimerStore().create(timers, created_by=who.creator)
    except KeyReused as exc:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            errors=[
                {
                    "loc": ["body", *locs[i], "idempotency_key"],
                    "msg": f"idempotency key {key!r} was used before with another request; use a new key",
                    "type": "conflict",
                }
                for i, key in zip(exc.positions, exc.keys, strict=True)
            ],
        ) from None


def _not_found(timer_id: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, f"no timer {timer_id!r}", loc=("path", "timer_id"))


async def _checked(requests: list[tuple[tuple[str | int, ...], TimerIn]], field: str | None = None) -> list[NewTimer]:
    """Apply the checks that need configuration, the clock or DNS; 422 naming every bad field, 503 if unset.

    The request's names are resolved on the event loop within ``[courier] webhook_dns_timeout`` (no worker
    thread waits on DNS), at most ``MAX_HOSTS`` of them (422 naming the limit at ``field``)."""
    from courier.config import load

    cfg = await run_in_threadpool(load)
    if not cfg.webhook_secret:
        raise ApiError(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "timers are disabled: [courier] webhook_secret is not set (deliveries are always signed)",
        )
    ids = [new_id() for _ in requests]
    try:
        resolver = await aprefetch(
            [request.url + timer_id for (_, request), timer_id in zip(requests, ids, strict=True)],
            cfg.webhook_allow_private_targets,
            cfg.webhook_allowed_hosts,
            deadline=cfg.webhook_dns_timeout,
        )
    except TooManyHosts as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc), loc=("body", field or "url")) from None
    now = datetime.now(UTC)
    planned, errors = [], []
    for (loc, request), timer_id in zip(requests, ids, strict=True):
        try:
            planned.append(
                new_timer(
                    request,
                    now,
                    cfg.timer_horizon,
                    cfg.webhook_allow_private_targets,
                    loc,
                    resolver=resolver,
                    allowed_hosts=cfg.webhook_allowed_hosts,
                    timer_id=timer_id,
                )
            )
        except FieldError as exc:
            errors.append(exc.detail())
    if errors:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, errors=errors)
    return planned


@router.post(
    "",
    response_model=TimerOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {
            "model": TimerOut,
            "description": "You created a timer with this idempotency_key from the same request: it is returned, "
            "nothing new.",
        },
        **error_responses(400, 409, 413, 415, 429),
    },
    openapi_extra=json_request(TimerIn),
)
async def create_timer(request: Annotated[TimerIn, json_body(TimerIn)], response: Response, who: Who) -> TimerOut:
    """Schedule one webhook: Courier POSTs to ``url + id`` at ``fire_at`` (or ``delay_seconds`` from now);
    429 past ``[courier] timer_create_rate`` timers of this user in the minute.

    An ``idempotency_key`` is yours alone: sending the same request again returns your timer (200); the key
    with another body is a 409."""
    _rate_limited(who, 1)
    planned = await _checked([((), request)])
    ((timer, created),) = await run_in_threadpool(_store, planned, who, [()])
    if not created:
        response.status_code = status.HTTP_200_OK
    return timer


@router.post(
    "/batch",
    response_model=list[TimerOut],
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 409, 413, 415, 429),
    openapi_extra=json_request(TimerBatchIn),
)
async def create_timers(batch: Annotated[TimerBatchIn, json_body(TimerBatchIn)], who: Who) -> list[TimerOut]:
    """Schedule up to 1000 timers atomically: all are stored, or (on any bad item, or a key you used before with
    another request: 409) none. Their URLs may name at most 50 distinct hosts (a 422 names the limit); 429 past
    ``[courier] timer_create_rate`` timers of this user in the minute (each timer of the batch counts)."""
    _rate_limited(who, len(batch.timers))
    locs: list[tuple[str | int, ...]] = [("timers", i) for i in range(len(batch.timers))]
    planned = await _checked(list(zip(locs, batch.timers, strict=True)), "timers")
    return [timer for timer, _ in await run_in_threadpool(_store, planned, who, locs)]


@router.get("/{timer_id}", response_model=TimerOut, responses=error_responses(404))
def get_timer(timer_id: PathId, who: Who) -> TimerOut:
    """A timer's status, times, lateness and every delivery attempt (404 for a timer that is not yours, unless
    you have full access)."""
    try:
        return TimerStore().get(timer_id, who.scope)
    except TimerNotFound:
        raise _not_found(timer_id) from None


@router.get("", response_model=TimerPage)
def list_timers(
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Cursor = None,
    *,
    who: Who,
) -> dict[str, Any]:
    """Your timers (every timer with full access), newest first, at most 200 a page; pass ``next_cursor`` back as
    ``cursor`` for the next page."""
    try:
        timers, next_cursor = TimerStore().list(status_filter, limit, cursor, who.scope)
    except ValueError:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "cursor is not one this API handed out", loc=("query", "cursor")
        ) from None
    return {"timers": timers, "next_cursor": next_cursor}


@router.post("/{timer_id}/cancel", response_model=TimerOut, responses=error_responses(404, 409))
def cancel_timer(timer_id: PathId, who: Who) -> TimerOut:
    """Cancel a timer that is not final (``scheduled``, ``retrying``, or ``firing``: a send already on the wire
    may still arrive, none follows): its status becomes ``cancelled`` and the record stays readable
    (``GET /courier/timers/{id}``); 409 once final; 404 for a timer that is not yours."""
    try:
        return TimerStore().cancel(timer_id, who.scope)
    except TimerNotFound:
        raise _not_found(timer_id) from None
    except TimerNotCancellable as exc:
        raise ApiError(status.HTTP_409_CONFLICT, str(exc), loc=("path", "timer_id")) from None
