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


class EventWire(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    # gc=False: a batch's thousands of events are not tracked by the cycle collector (they hold only strings,
    # numbers and a str->str dict, so they can never be in a cycle). Tracked, events alive while a collection
    # runs are promoted, and every few seconds of ingest that set off a full collection of the API server's
    # whole heap (~650k objects: 0.3-1 s with every thread stopped, GET /courier/health included).
    name: str
    value: float
    type: str = "gauge"
    tags: dict[str, str] = msgspec.field(default_factory=dict)
    ts: float | str | None = None


class EventIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One posted event as parsed (``EventWire``'s fields): its tags kept as their JSON text, which repeats
    within a batch, so each distinct text is decoded and checked once (not a dict made per event). Not
    tracked by the cycle collector, for the reason given on ``EventWire``."""

    name: str
    value: float
    type: str = "gauge"
    tags: msgspec.Raw = msgspec.Raw(b"{}")
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

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
"""Text escaped for COPY's text format (backslash, tab, newline, carriage return)."""


@dataclass(frozen=True, slots=True)
class Batch:
    """A checked batch, ready to store: its events as COPY text and the minutes they fall in."""

    count: int
    minutes: list[datetime]
    copy: bytes
    """``minute, ts, name, tags, type, value`` per event, in COPY's text format."""


_ARRAY_DECODER = msgspec.json.Decoder(list[EventIn])
_LINE_DECODER = msgspec.json.Decoder(EventIn)
_TAGS_DECODER = msgspec.json.Decoder(dict[str, str])


def decode(body: bytes, ndjson: bool) -> list[EventIn]:
    """Parse a JSON array or NDJSON body; raise :class:`EventError` naming the event and field."""
    if ndjson:
        try:
            return _LINE_DECODER.decode_lines(body)  # all lines in C; a bad one is located line by line below
        except msgspec.DecodeError:
            pass
        for index, line in enumerate(line for line in body.splitlines() if line.strip()):
            try:
                _LINE_DECODER.decode(line)
            except msgspec.ValidationError as exc:
                raise EventError(index, _field_of(str(exc)), str(exc)) from None
            except msgspec.DecodeError as exc:
                raise EventError(index, None, f"line is not a JSON object: {exc}") from None
        raise EventError(None, None, "body is not a JSON object per line")  # no line is bad, yet the whole is
    try:
        return _ARRAY_DECODER.decode(body)
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


def check(events: list[EventIn], now: datetime, limits: Limits) -> Batch:
    """Check every event and return the batch to store; raise :class:`EventError` at the first bad one.

    The hot loop of ingest: one pass that makes each event's COPY line but its value, with no row objects.

    * An event's ``name<TAB>tags<TAB>type`` repeats within a batch, so each distinct one (by name, type and
      the JSON text of the tags) is checked and escaped once, its tags decoded and encoded again as JSON
      with sorted keys.
    * Its time: events without ``ts`` share one ``minute<TAB>ts`` text. Epoch seconds inside the accepted
      window (the common case; an RFC 3339 time with an offset is read as its epoch seconds first) are split
      into a whole second, whose text is made once per distinct second, and microseconds rounded as
      ``datetime.fromtimestamp`` rounds them (exact for a time read from RFC 3339 too: it has whole
      microseconds, and a float near today's epoch is within 0.25 µs of it), so no datetime is formatted per
      event. Anything else (out of the window, not finite, not a time) takes the checked path through
      :func:`parse_ts`, which names the problem.
    * Values: all of them are written by one ``msgspec.json.encode`` of the list (the shortest text that
      reads back as the same float, like ``repr``), which writes a non-finite one as ``null``: only then are
      the values looked at one by one, to name the first bad event.
    """
    if not events:
        raise EventError(None, None, "the batch holds no events")
    if len(events) > limits.max_events:
        raise TooManyEvents(f"{len(events)} events in one batch; at most {limits.max_events} are accepted")
    oldest = now - timedelta(seconds=limits.retention)
    newest = now + timedelta(seconds=limits.future_skew)
    oldest_epoch, newest_epoch = oldest.timestamp(), newest.timestamp()
    # name, type, tags -> their text, and the line up to the value of such an event without ts
    kinds: dict[tuple[str, str, bytes], tuple[str, bytes]] = {}
    series = _Series(limits)
    minutes: dict[int, str] = {}  # epoch minute -> its text
    seconds: dict[int, str] = {}  # epoch second -> "minute<TAB>second" text
    now_minute = int(now.timestamp()) // 60
    now_stamp = f"{datetime.fromtimestamp(now_minute * 60, UTC).isoformat()}\t{now.isoformat()}\t"
    at_now = False  # whether an event has no ts (so the receive time's minute is one to store)
    heads: list[bytes] = []  # per event, its line up to the value
    append, modf = heads.append, math.modf
    try:
        for index, event in enumerate(events):
            key = (event.name, event.type, bytes(event.tags))
            known = kinds.get(key)
            if known is None:
                text = series.text(index, event, key[2])
                known = kinds[key] = (text, (now_stamp + text).encode())
            raw = event.ts
            if raw is None:
                append(known[1])
                at_now = True
                continue
            text = known[0]
            epoch = _rfc3339_seconds(raw) if raw.__class__ is str else raw
            if type(epoch) is float and oldest_epoch <= epoch <= newest_epoch:
                fraction, whole = modf(epoch)
                micro = round(fraction * 1e6)  # half to even, as datetime.fromtimestamp rounds
                second = int(whole)
                if micro >= 1_000_000:
                    second, micro = second + 1, micro - 1_000_000
                prefix = seconds.get(second)
                if prefix is None:
                    iso = datetime.fromtimestamp(second, UTC).isoformat()[:19]
                    prefix = seconds[second] = f"{_minute_text(second // 60, minutes)}\t{iso}"
                stamp = f"{prefix}.{micro:06d}+00:00\t"
            else:
                stamp = _checked_stamp(index, raw, now, oldest, newest, limits, minutes)
            append((stamp + text).encode())
    except EventError:
        _refuse_non_finite(events, index)  # a non-finite value of an earlier event is the first bad one
        raise
    numbers = msgspec.json.encode([event.value for event in events])
    if b"null" in numbers:
        _refuse_non_finite(events, len(events))
    if at_now:
        _minute_text(now_minute, minutes)
    return Batch(
        count=len(heads),
        minutes=[datetime.fromtimestamp(minute * 60, UTC) for minute in sorted(minutes)],
        copy=b"\n".join(map(bytes.__add__, heads, numbers[1:-1].split(b","))) + b"\n",
    )


def _refuse_non_finite(events: list[EventIn], before: int) -> None:
    """Raise :class:`EventError` for the first of ``events[:before]`` whose value is not finite."""
    isfinite = math.isfinite
    for index, event in enumerate(events[:before]):
        if not isfinite(event.value):
            raise EventError(index, "value", "must be a finite number")


class _Series:
    """Checked and escaped names and tag sets of one batch (each distinct one is checked once)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.names: dict[str, str] = {}
        self.tags: dict[bytes, str] = {}

    def text(self, index: int, event: EventIn, tags: bytes) -> str:
        """``name<TAB>tags<TAB>type<TAB>`` of a checked event, escaped for COPY."""
        name = self.names.get(event.name)
        if name is None:
            name = event.name
            if not name or len(name) > MAX_NAME or not _NAME_RE.match(name):
                raise EventError(index, "name", f"must be 1-{MAX_NAME} characters without control characters")
            name = self.names[name] = name.translate(COPY_ESCAPES)
        if event.type not in TYPES:
            raise EventError(index, "type", f"must be one of {', '.join(TYPES)}")
        tags_text = self.tags.get(tags)
        if tags_text is None:
            try:
                parsed = _TAGS_DECODER.decode(tags)
            except msgspec.ValidationError as exc:
                raise EventError(index, "tags", str(exc)) from None
            tags_text = _check_tags(index, parsed, self.limits) if parsed else "{}"
            tags_text = self.tags[tags] = tags_text.translate(COPY_ESCAPES)
        return f"{name}\t{tags_text}\t{event.type}\t"


def _rfc3339_seconds(raw: str) -> float | None:
    """Epoch seconds of an RFC 3339 time with an offset; None for anything else (the checked path says why)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _minute_text(epoch_minute: int, minutes: dict[int, str]) -> str:
    text = minutes.get(epoch_minute)
    if text is None:
        text = minutes[epoch_minute] = datetime.fromtimestamp(epoch_minute * 60, UTC).isoformat()
    return text


def _checked_stamp(
    index: int,
    raw: float | str,
    now: datetime,
    oldest: datetime,
    newest: datetime,
    limits: Limits,
    minutes: dict[int, str],
) -> str:
    """``minute<TAB>ts`` for an event's ``ts`` off the fast path; :class:`EventError` naming what is wrong."""
    try:
        ts = parse_ts(raw, now)
    except ValueError as exc:
        raise EventError(index, "ts", str(exc)) from None
    if ts < oldest:
        raise EventError(index, "ts", f"is older than the raw retention of {limits.retention:g} s")
    if ts > newest:
        raise EventError(index, "ts", f"is more than {limits.future_skew:g} s in the future")
    return f"{_minute_text(int(ts.timestamp()) // 60, minutes)}\t{ts.isoformat()}\t"


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
