"""The timer API's shapes and the checks a new timer must pass before anything is stored."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from courier.config import MAX_TIMER_HORIZON
from courier.timers.rules import Status
from courier.webhooks import events
from courier.webhooks.events import JOB_EVENT_KEY_PREFIX
from courier.webhooks.policy import Resolver, TargetRefused, check_url, resolve
from courier.wire import URL_PATTERN, DbText, Rfc3339, db_json_problem, db_text_problem, fingerprint

TIMER_ID_PREFIX = "tmr_"
RESERVED_KEY_PREFIX = JOB_EVENT_KEY_PREFIX  # job events' idempotency keys: a timer taking one would stand in for it

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_HEADERS = 32
MAX_HEADERS_BYTES = 8 * 1024
"""Extra headers per timer: at most this many, names and values together at most this many bytes (UTF-8)."""
MAX_BATCH = 1000
MAX_PAGE = 200
"""Timers per ``GET /courier/timers`` page at most (a timer carries up to 64 KiB of payload: ~13 MiB a page)."""
PAST_TOLERANCE = timedelta(seconds=60)  # a fire_at this far in the past (client clock skew) fires at once
FORBIDDEN_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class FieldError(ValueError):
    """A request field is wrong; ``loc`` is its path, as in FastAPI's 422 answers."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message

    def detail(self) -> dict[str, Any]:
        return {"loc": ["body", *self.loc], "msg": self.message, "type": "value_error"}


class TimerIn(BaseModel):
    """A timer to create: exactly one of ``delay_seconds`` and ``fire_at``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["delay_seconds"]}, {"required": ["fire_at"]}]},
    )

    url: str = Field(
        max_length=2048,
        pattern=URL_PATTERN,
        description="Target (http or https); Courier POSTs to url + timer id. No spaces or control characters.",
    )
    # Not nullable: give the one you mean and leave the other out (the schema's oneOf says so).
    # Numbers are strict: a JSON boolean is not a number (pydantic's lax mode would read true as 1).
    delay_seconds: float = Field(
        None,  # type: ignore[assignment]
        ge=0,
        le=MAX_TIMER_HORIZON,
        allow_inf_nan=False,
        strict=True,
        description="Fire this many seconds from now (at most [courier] timer_horizon; never more than 10 years).",
    )
    fire_at: Rfc3339 = Field(
        None,  # type: ignore[assignment]
        description="Fire at this RFC 3339 instant (with a UTC offset).",
    )
    payload: Any = Field(None, description="Any JSON value, delivered as 'payload' (at most 64 KiB).")
    headers: dict[str, str] = Field(
        default_factory=dict,
        max_length=MAX_HEADERS,
        description=f"Extra request headers sent with every attempt: at most {MAX_HEADERS}, names and values "
        f"together at most {MAX_HEADERS_BYTES} bytes (UTF-8).",
    )
    idempotency_key: DbText | None = Field(None, min_length=1, max_length=255)
    expire_after_seconds: float | None = Field(
        None,
        gt=0,
        le=MAX_TIMER_HORIZON,
        allow_inf_nan=False,
        strict=True,
        description="Give up (status expired) if not delivered this long after fire_at.",
    )

    @model_validator(mode="after")
    def _one_time(self) -> TimerIn:
        if (self.delay_seconds is None) == (self.fire_at is None):
            raise ValueError("give exactly one of delay_seconds and fire_at")
        return self

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        size = sum(len(name.encode()) + len(text.encode()) for name, text in value.items())
        if size > MAX_HEADERS_BYTES:
            raise ValueError(f"headers are {size} bytes (names and values); at most {MAX_HEADERS_BYTES} are accepted")
        for name, text in value.items():
            if not _TOKEN_RE.match(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP token")
            if name.lower() in FORBIDDEN_HEADERS:
                raise ValueError(f"header {name!r} is set by Courier and may not be given")
            if any(c in text for c in "\r\n\0"):
                raise ValueError(f"header {name!r} has a line break or NUL in its value")
            problem = db_text_problem(text)
            if problem is not None:
                raise ValueError(f"header {name!r} {problem}")
        return value

    @field_validator("idempotency_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(RESERVED_KEY_PREFIX):
            raise ValueError(f"idempotency keys starting {RESERVED_KEY_PREFIX!r} are Courier's own (job events)")
        return value

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: Any) -> Any:
        problem = db_json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"payload is {size} bytes; at most {MAX_PAYLOAD_BYTES} are accepted")
        return value


class TimerBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timers: list[TimerIn] = Field(min_length=1, max_length=MAX_BATCH)


class AttemptOut(BaseModel):
    attempt: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


class TimerOut(BaseModel):
    """A timer as the API shows it. Header values are not shown (they may hold the target's credentials)."""

    id: str
    url: str
    status: str
    fire_at: datetime
    created_at: datetime
    fired_at: datetime | None = None
    finished_at: datetime | None = None
    lateness_ms: float | None = Field(None, description="fired_at - fire_at of the first attempt, in milliseconds.")
    attempts: int
    next_attempt_at: datetime | None = None
    expire_at: datetime | None = None
    idempotency_key: str | None = None
    header_names: list[str] = Field(default_factory=list)
    payload: Any = None
    last_error: str | None = None
    attempt_log: list[AttemptOut] | None = None


class TimerPage(BaseModel):
    timers: list[TimerOut]
    next_cursor: str | None


@dataclass(frozen=True)
class NewTimer:
    """A checked timer, ready to insert."""

    id: str
    url: str
    fire_at: datetime
    payload: Any
    headers: dict[str, str]
    idempotency_key: str | None
    expire_at: datetime | None
    request_sha256: str | None = None
    """The request's :func:`~courier.wire.fingerprint`: its key reused with another request is a conflict."""


def new_id(prefix: str = TIMER_ID_PREFIX) -> str:
    """A URL-safe timer id (it is appended to the target URL). Job events are ``evt_``: only Courier makes those
    (no API takes an id), and the dispatcher signs them with the job-event key (:mod:`courier.webhooks.signing`)."""
    return events.new_id(prefix)


def new_timer(
    request: TimerIn,
    now: datetime,
    horizon: float,
    allow_private: bool,
    loc: tuple[str | int, ...] = (),
    resolver: Resolver = resolve,
    allowed_hosts: tuple[str, ...] = (),
    timer_id: str | None = None,
) -> NewTimer:
    """Turn a request into a :class:`NewTimer` or raise :class:`FieldError` naming the field.

    The URL checked is the one the dispatcher will call: ``url + id``."""
    if request.delay_seconds is not None:
        if request.delay_seconds > horizon:
            raise FieldError((*loc, "delay_seconds"), f"is beyond the horizon of {horizon:g} seconds")
        fire_at = now + timedelta(seconds=request.delay_seconds)
    else:
        assert request.fire_at is not None
        fire_at = request.fire_at
        if fire_at > now + timedelta(seconds=horizon):
            raise FieldError((*loc, "fire_at"), f"is beyond the horizon of {horizon:g} seconds from now")
        if fire_at < now - PAST_TOLERANCE:
            raise FieldError((*loc, "fire_at"), "is in the past")
    timer_id = timer_id or new_id()
    try:
        check_url(request.url + timer_id, allow_private, resolver, allowed_hosts)
    except TargetRefused as exc:
        raise FieldError((*loc, "url"), f"{exc} (checked with the timer id appended, as it is called)") from None
    expire_at = fire_at + timedelta(seconds=request.expire_after_seconds) if request.expire_after_seconds else None
    return NewTimer(
        timer_id,
        request.url,
        fire_at,
        request.payload,
        request.headers,
        request.idempotency_key,
        expire_at,
        fingerprint(request),
    )


# ---------------------------------------------------------------- what the dispatchers' store calls take and return
@dataclass(order=True, slots=True)
class Claimed:
    """A timer a dispatcher leased, ordered by when its attempt is due (``due``: epoch seconds)."""

    due: float
    id: str = field(compare=False)
    url: str = field(compare=False)
    fire_at: datetime = field(compare=False)
    payload: str | None = field(compare=False)  # the stored JSON text, sent as it is
    headers: dict[str, str] = field(compare=False)
    expire_at: datetime | None = field(compare=False)
    attempt: int = field(default=0, compare=False)
    marked_at: float = field(default=0.0, compare=False)  # monotonic time the firing was committed


@dataclass(slots=True)
class Delivery:
    """What became of a claimed timer: its new status and, when a request was sent (``started``), the attempt."""

    timer: Claimed
    status: Status
    started: datetime | None = None
    duration_ms: float = 0.0
    code: int | None = None
    error: str | None = None
    next_at: datetime | None = None
