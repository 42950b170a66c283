"""Stats events: the wire format, the checks every event must pass, and the definitions the roll-up follows.

A batch is a JSON array, or NDJSON (one event per line), of ``{name, value, type?, tags?, ts?}``. Parsing
uses msgspec (typed structs, several times faster than pydantic on this hot path); every event is then
checked, and the first bad event rejects the whole batch with its index and field, so nothing of a bad
batch is stored.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

TYPES = ("counter", "gauge", "timer")
MAX_NAME = 200
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
_NAME_RE = re.compile(r"^[^\x00-\x1f\x7f]+$")
_PATH_RE = re.compile(r"\$\[(\d+)\](?:\.(\w+))?")
NAME_PATTERN = r"^[^\u0000-\u001f\u007f]+$"
VALUE_PATTERN = r"^[^\u0000]*$"  # PostgreSQL cannot store NUL in text or jsonb; anything else round-trips
_VALUE_RE = re.compile(r"^[^\x00]*$")
TAG_PATTERN = r"^[^\u0000-\u001f\u007f:]+:[^\u0000]*$"


class EventWire(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    value: float
    type: str = "gauge"
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    ts: float | str | None = None


@dataclass(frozen=True)
class Limits:
    """What a batch may hold (``[courier] stats_*`` settings)."""

    max_events: int = 10_000
    max_tags: int = 16
    retention: float = 600.0  # an event older than this is refused: its minute may already be pruned
    future_skew: float = 60.0  # an event further ahead than this is refused


class EventError(ValueError):
    """Event ``index`` is bad in ``field``; ``loc`` as the API reports it."""

    def __init__(self, index: int | None, field: str | None, message: str) -> None:
        super().__init__(message)
        self.loc: list[str | int] = ["body"]
        if index is not None:
            self.loc.append(index)
        if field:
            self.loc.append(field)
        self.message = message


class TooManyEvents(ValueError):
    """The batch holds more events than ``[courier] stats_max_batch_events``."""


Row = tuple[datetime, datetime, str, str, str, float]
"""(minute, ts, name, tags as JSON text, type, value): one raw event as stored."""


def decode(body: bytes, ndjson: bool) -> list[EventWire]:
    """Parse a JSON array or NDJSON body; raise :class:`EventError` naming the event and field."""
    if ndjson:
        events = []
        decoder = msgspec.json.Decoder(EventWire)
        for index, line in enumerate(line for line in body.splitlines() if line.strip()):
            try:
                events.append(decoder.decode(line))
            except msgspec.ValidationError as exc:
                raise EventError(index, _field_of(str(exc)), str(exc)) from None
            except msgspec.DecodeError as exc:
                raise EventError(index, None, f"line is not a JSON object: {exc}") from None
        return events
    try:
        return msgspec.json.decode(body, type=list[EventWire])
    except msgspec.ValidationError as exc:
        match = _PATH_RE.search(str(exc))
        at = int(match.group(1)) if match else None
        field = _field_of(str(exc)) if match else None
        raise EventError(at, field, str(exc).split(" - at ")[0]) from None
    except msgspec.DecodeError as exc:
        raise EventError(None, None, f"body is not a JSON array: {exc}") from None


def _field_of(message: str) -> str | None:
    match = re.search(r"\$(?:\[\d+\])?\.(\w+)", message) or re.search(r"field `(\w+)`", message)
    return match.group(1) if match else None


def parse_ts(raw: float | str | None, now: datetime) -> datetime:
    """An event's time: epoch seconds or RFC 3339 with an offset; ``now`` when absent."""
    if raw is None:
        return now
    if isinstance(raw, float | int):
        if not math.isfinite(raw):
            raise ValueError("must be finite")
        try:
            return datetime.fromtimestamp(raw, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{raw!r} is out of the range of epoch seconds") from None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is neither epoch seconds nor an RFC 3339 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{raw!r} has no UTC offset")
    return parsed.astimezone(UTC)


def check(events: list[EventWire], now: datetime, limits: Limits) -> list[Row]:
    """Check every event and return the rows to store; raise :class:`EventError` at the first bad one.

    The hot loop of ingest: names and tag sets repeat within a batch, so each distinct one is checked (and
    its tags encoded) once.
    """
    if not events:
        raise EventError(None, None, "the batch holds no events")
    if len(events) > limits.max_events:
        raise TooManyEvents(f"{len(events)} events in one batch; at most {limits.max_events} are accepted")
    oldest = now - timedelta(seconds=limits.retention)
    newest = now + timedelta(seconds=limits.future_skew)
    now_minute = now.replace(second=0, microsecond=0)
    names: set[str] = set()
    tag_sets: dict[tuple[tuple[str, str], ...], str] = {}
    minutes: dict[int, datetime] = {}
    isfinite = math.isfinite
    rows: list[Row] = []
    append = rows.append
    for index, event in enumerate(events):
        name = event.name
        if name not in names:
            if not name or len(name) > MAX_NAME or not _NAME_RE.match(name):
                raise EventError(index, "name", f"must be 1-{MAX_NAME} characters without control characters")
            names.add(name)
        value = event.value
        if not isfinite(value):
            raise EventError(index, "value", "must be a finite number")
        kind = event.type
        if kind not in TYPES:
            raise EventError(index, "type", f"must be one of {', '.join(TYPES)}")
        tags = event.tags
        if tags:
            key = tuple(tags.items())
            tags_json = tag_sets.get(key)
            if tags_json is None:
                tags_json = tag_sets[key] = _check_tags(index, tags, limits)
        else:
            tags_json = "{}"
        raw = event.ts
        if raw is None:
            append((now_minute, now, name, tags_json, kind, value))
            continue
        try:
            ts = parse_ts(raw, now)
        except ValueError as exc:
            raise EventError(index, "ts", str(exc)) from None
        if ts < oldest:
            raise EventError(index, "ts", f"is older than the raw retention of {limits.retention:g} s")
        if ts > newest:
            raise EventError(index, "ts", f"is more than {limits.future_skew:g} s in the future")
        epoch_minute = int(ts.timestamp()) // 60
        minute = minutes.get(epoch_minute)
        if minute is None:
            minute = minutes[epoch_minute] = ts.replace(second=0, microsecond=0)
        append((minute, ts, name, tags_json, kind, value))
    return rows


def _check_tags(index: int, tags: dict[str, str], limits: Limits) -> str:
    """One tag set checked; its JSON text with sorted keys (one spelling per set, whatever the order sent)."""
    if len(tags) > limits.max_tags:
        raise EventError(index, "tags", f"{len(tags)} tags; at most {limits.max_tags}")
    for key, value in tags.items():
        if (
            not key
            or len(key) > MAX_TAG_KEY
            or len(value) > MAX_TAG_VALUE
            or not _NAME_RE.match(key)
            or not _VALUE_RE.match(value)
        ):
            raise EventError(
                index, "tags", f"tag {key[:40]!r}: keys 1-{MAX_TAG_KEY} characters, values at most {MAX_TAG_VALUE}"
            )
    return msgspec.json.encode(dict(sorted(tags.items()))).decode()


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's ``percentile_cont``: linear interpolation between the two nearest ranks.

    With the values sorted ascending and ``n`` of them, the position is ``(n - 1) * fraction``; the result is
    the value at its floor plus the fraction of the way to the next value.
    """
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def prunable(minute: datetime, now: datetime, retention: float, rolled_up_to: datetime | None, dirty: bool) -> bool:
    """Whether the raw events of ``minute`` may be dropped.

    Only when the whole minute is older than the retention (plus one minute, so an event ingest could
    still accept never lands in a dropped minute) AND the minute is rolled up: below the watermark and with
    no events that arrived after its last roll-up.
    """
    if dirty or rolled_up_to is None or minute + timedelta(minutes=1) > rolled_up_to:
        return False
    return minute + timedelta(minutes=1) <= now - timedelta(seconds=retention + 60)


# ----------------------------------------------------------------- API shapes (OpenAPI + read routes)
class StatEventIn(BaseModel):
    """One event (documentation of the ingest body; the route parses with msgspec)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
    value: float = Field(allow_inf_nan=False)
    type: Literal["counter", "gauge", "timer"] = "gauge"
    tags: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_KEY, pattern=NAME_PATTERN)],
        Annotated[str, StringConstraints(max_length=MAX_TAG_VALUE, pattern=VALUE_PATTERN)],
    ] = Field(default_factory=dict, max_length=16)
    ts: float | datetime | None = Field(
        None, description="Epoch seconds or RFC 3339 with an offset; default the receive time."
    )


class Accepted(BaseModel):
    accepted: int
    duplicate: bool = Field(False, description="True when this Idempotency-Key was accepted before.")


class Point(BaseModel):
    minute: datetime
    count: int
    sum: float
    min: float
    max: float
    avg: float
    last: float
    p50: float
    p90: float
    p95: float
    p99: float
    partial: bool = Field(description="True for minutes not rolled up yet, computed from raw events now.")


class Series(BaseModel):
    tags: dict[str, str]
    points: list[Point]


class SeriesOut(BaseModel):
    name: str
    series: list[Series]


class MetricName(BaseModel):
    name: str
    tag_keys: list[str]


class NamesOut(BaseModel):
    names: list[MetricName]


def tag_filter(tags: list[str]) -> dict[str, Any]:
    """``["k:v", …]`` → ``{"k": "v", …}``; raise ValueError for an item without a colon or with control characters."""
    found: dict[str, Any] = {}
    for item in tags:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise ValueError(f"tag {item[:60]!r} is not key:value")
        if not _NAME_RE.match(key) or not _VALUE_RE.match(value):
            raise ValueError(f"tag {item[:60]!r}: control characters in the key or NUL in the value")
        found[key] = value
    return found
