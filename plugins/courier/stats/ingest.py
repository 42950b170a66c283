"""Stats events as posted: the wire format, and the checks every event must pass before anything is stored.

A batch is a JSON array, or NDJSON (one event per line), of ``{name, value, type?, tags?, ts?}``. Parsing
uses msgspec (typed structs, several times faster than pydantic on this hot path); every event is then
checked, and the first bad event rejects the whole batch with its index and field, so nothing of a bad
batch is stored. A checked batch is already the COPY text the store writes (:mod:`courier.stats.chunks`).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

import msgspec

from courier.stats.chunks import COPY_ESCAPES, MINUTE_US, Batch, Groups, chunk_copy, micros

TYPES = ("counter", "gauge", "timer")
MAX_NAME = 200
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
NAME_PATTERN = r"^[^\u0000-\u001f\u007f]+$"
"""A metric name or tag key: no control characters (the API's query parameters use the same pattern)."""
VALUE_PATTERN = r"^[^\u0000]*$"
"""A tag value: PostgreSQL cannot store NUL in text or jsonb; anything else round-trips."""
TAG_PATTERN = r"^[^\u0000-\u001f\u007f:]+:[^\u0000]*$"
"""A ``key:value`` tag filter of the read routes."""
_NAME_RE = re.compile(NAME_PATTERN)
_VALUE_RE = re.compile(VALUE_PATTERN)
_PATH_RE = re.compile(r"\$\[(\d+)\](?:\.(\w+))?")


class EventIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One event as posted and as parsed: ``{name, value, type?, tags?, ts?}``. Its tags are kept as their JSON
    text, which repeats within a batch, so each distinct text is decoded and checked once (not a dict made per
    event); Courier's own events (:func:`courier.stats.emit.event`) are built as the same struct.

    ``gc=False``: a batch's thousands of events are not tracked by the cycle collector (they hold only
    strings, numbers and raw JSON, so they can never be in a cycle). Tracked, events alive while a collection
    runs are promoted, and every few seconds of ingest that set off a full collection of the API server's
    whole heap (~650k objects: 0.3-1 s with every thread stopped, GET /courier/health included)."""

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
        self.index = index
        self.field = field
        self.message = message


class TooManyEvents(ValueError):
    """The batch holds more events than ``[courier] stats_max_batch_events``."""


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


_NAME_OF, _TYPE_OF, _TAGS_OF = attrgetter("name"), attrgetter("type"), attrgetter("tags")
_TS_OF, _VALUE_OF = attrgetter("ts"), attrgetter("value")


def check(events: list[EventIn], now: datetime, limits: Limits) -> Batch:
    """Check every event and return the batch to store; raise :class:`EventError` at the first bad one.

    The hot path of ingest, column by column: the events' fields are taken out as lists in C (``map`` over
    ``attrgetter``), and Python loops only where it must decide per event.

    * An event's series (name, type, tags) repeats within a batch, so each distinct one is checked and
      escaped once (its tags decoded and encoded again as JSON with sorted keys).
    * Its time, in microseconds: events without ``ts`` share the receive time (a batch without any ``ts``
      skips the per-event time work and is grouped by series alone). Epoch seconds inside the accepted window (an RFC 3339 time with an offset is
      read as its epoch seconds first) are split into whole seconds and microseconds rounded as
      ``datetime.fromtimestamp`` rounds them (exact for a time read from RFC 3339 too: it has whole
      microseconds, and a float near today's epoch is within 0.25 µs of it), so no datetime is made per
      event. Anything else (out of the window, not finite, not a time) takes the checked path through
      :func:`parse_ts`, which names the problem.
    * Values are written in :func:`chunk_copy`, which writes a non-finite one as ``null``: only then are
      the values looked at one by one, to name the first bad event.

    The error reported is the first bad event's; within one event, its series before its time before its
    value.
    """
    if not events:
        raise EventError(None, None, "the batch holds no events")
    if len(events) > limits.max_events:
        raise TooManyEvents(f"{len(events)} events in one batch; at most {limits.max_events} are accepted")
    keys = list(zip(map(_NAME_OF, events), map(_TYPE_OF, events), map(bytes, map(_TAGS_OF, events)), strict=True))
    stamps = list(map(_TS_OF, events))
    values = list(map(_VALUE_OF, events))
    now_us = micros(now)
    groups: Groups = {}
    ts_error: EventError | None = None
    if stamps.count(None) == len(stamps):  # every event at the receive time: one minute, group by series
        by_series: defaultdict[tuple[str, str, bytes], list[float]] = defaultdict(list)
        for key, value in zip(keys, values, strict=True):
            by_series[key].append(value)
        texts, series_error = _series_texts(by_series, keys, limits)
        if series_error is None:
            minute = now_us // MINUTE_US
            groups = {(texts[key], minute): ([now_us] * len(picked), picked) for key, picked in by_series.items()}
    else:
        times, ts_error = _times(stamps, now, limits)
        by_minute: defaultdict[tuple[tuple[str, str, bytes], int], tuple[list[int], list[float]]] = defaultdict(
            lambda: ([], [])
        )
        for series_minute, time, value in zip(
            zip(keys, [t // MINUTE_US for t in times], strict=True), times, values, strict=True
        ):
            group = by_minute[series_minute]
            group[0].append(time)
            group[1].append(value)
        texts, series_error = _series_texts(dict.fromkeys(key for key, _ in by_minute), keys, limits)
        if series_error is None and ts_error is None:
            groups = {(texts[key], minute): group for (key, minute), group in by_minute.items()}
    if series_error is not None or ts_error is not None:
        # the first bad event; within one, its series before its time (and a bad value only before both)
        first = min((e for e in (series_error, ts_error) if e is not None), key=lambda e: (e.index, e is ts_error))
        _refuse_non_finite(events, first.index or 0)
        raise first
    copy, finite = chunk_copy(groups)
    if not finite:
        _refuse_non_finite(events, len(events))
    return Batch(
        count=len(events),
        minutes=[datetime.fromtimestamp(minute * 60, UTC) for minute in sorted({m for _, m in groups})],
        copy=copy,
    )


def _series_texts(
    distinct: Iterable[tuple[str, str, bytes]], keys: list[tuple[str, str, bytes]], limits: Limits
) -> tuple[dict[tuple[str, str, bytes], str], EventError | None]:
    """Each distinct series (``distinct``, in the order of first appearance in ``keys``) checked: its COPY
    text, and the error of the first bad one, located at its first event (the earliest with a bad series)."""
    series = _Series(limits)
    texts: dict[tuple[str, str, bytes], str] = {}
    for key in distinct:
        try:
            texts[key] = series.text(*key)
        except EventError as exc:
            return texts, EventError(keys.index(key), exc.field, exc.message)
    return texts, None


def _times(stamps: list[float | str | None], now: datetime, limits: Limits) -> tuple[list[int], EventError | None]:
    """Each event's time in microseconds (the receive time where it has no ``ts``), and the error of the
    first bad ``ts`` (its event then counts at the receive time: the batch is refused anyway)."""
    oldest = now - timedelta(seconds=limits.retention)
    newest = now + timedelta(seconds=limits.future_skew)
    oldest_epoch, newest_epoch = oldest.timestamp(), newest.timestamp()
    now_us = micros(now)
    modf = math.modf
    times = []
    error: EventError | None = None
    for index, raw in enumerate(stamps):
        if raw is None:
            times.append(now_us)
            continue
        epoch = _rfc3339_seconds(raw) if raw.__class__ is str else raw
        if type(epoch) is float and oldest_epoch <= epoch <= newest_epoch:
            fraction, whole = modf(epoch)
            times.append(int(whole) * 1_000_000 + round(fraction * 1e6))  # half to even, as fromtimestamp
            continue
        if error is None:
            try:
                times.append(micros(_checked_ts(index, raw, now, oldest, newest, limits)))
                continue
            except EventError as exc:
                error = exc
        times.append(now_us)
    return times, error


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

    def text(self, name: str, kind: str, tags: bytes) -> str:
        """``name<TAB>tags<TAB>type<TAB>`` of a checked series, escaped for COPY; :class:`EventError` without
        an index for a bad one (the caller knows which event it was)."""
        checked = self.names.get(name)
        if checked is None:
            if not name or len(name) > MAX_NAME or not _NAME_RE.match(name):
                raise EventError(None, "name", f"must be 1-{MAX_NAME} characters without control characters")
            checked = self.names[name] = name.translate(COPY_ESCAPES)
        if kind not in TYPES:
            raise EventError(None, "type", f"must be one of {', '.join(TYPES)}")
        tags_text = self.tags.get(tags)
        if tags_text is None:
            try:
                parsed = _TAGS_DECODER.decode(tags)
            except msgspec.ValidationError as exc:
                raise EventError(None, "tags", str(exc)) from None
            tags_text = _check_tags(parsed, self.limits) if parsed else "{}"
            tags_text = self.tags[tags] = tags_text.translate(COPY_ESCAPES)
        return f"{checked}\t{tags_text}\t{kind}\t"


def _rfc3339_seconds(raw: str) -> float | None:
    """Epoch seconds of an RFC 3339 time with an offset; None for anything else (the checked path says why)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _checked_ts(
    index: int,
    raw: float | str,
    now: datetime,
    oldest: datetime,
    newest: datetime,
    limits: Limits,
) -> datetime:
    """An event's ``ts`` off the fast path; :class:`EventError` naming what is wrong."""
    try:
        ts = parse_ts(raw, now)
    except ValueError as exc:
        raise EventError(index, "ts", str(exc)) from None
    if ts < oldest:
        raise EventError(index, "ts", f"is older than the raw retention of {limits.retention:g} s")
    if ts > newest:
        raise EventError(index, "ts", f"is more than {limits.future_skew:g} s in the future")
    return ts


def _check_tags(tags: dict[str, str], limits: Limits) -> str:
    """One tag set checked; its JSON text with sorted keys (one spelling per set, whatever the order sent)."""
    if len(tags) > limits.max_tags:
        raise EventError(None, "tags", f"{len(tags)} tags; at most {limits.max_tags}")
    for key, value in tags.items():
        if (
            not key
            or len(key) > MAX_TAG_KEY
            or len(value) > MAX_TAG_VALUE
            or not _NAME_RE.match(key)
            or not _VALUE_RE.match(value)
        ):
            raise EventError(
                None, "tags", f"tag {key[:40]!r}: keys 1-{MAX_TAG_KEY} characters, values at most {MAX_TAG_VALUE}"
            )
    return msgspec.json.encode(dict(sorted(tags.items()))).decode()


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
