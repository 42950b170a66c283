"""The COPY encoding of raw stats events, beside the store that writes it (:mod:`courier.stats.store`).

Raw events are stored in chunks: one row of ``courier_stat_chunks`` per series (name, tags, type) and minute
holds up to :data:`CHUNK` events as two arrays, times in µs and values. A checked batch
(:func:`courier.stats.ingest.check`) is the COPY text of those rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

Row = tuple[datetime, datetime, str, str, str, float]
"""(minute, ts, name, tags as JSON text, type, value): one raw event."""

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
"""Text escaped for COPY's text format (backslash, tab, newline, carriage return)."""

CHUNK = 100
"""Events per stored row at most: one row of 100 times and values stays under PostgreSQL's ~2 kB TOAST
threshold, so it is written inline (no out-of-line chunks, no compression attempt)."""

COPY_COLUMNS = "minute, name, tags, type, micros, vals"
"""The columns of ``courier_stat_chunks`` a batch's COPY text fills, in order."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_US = 60_000_000
"""Microseconds per minute: an epoch time in µs divided by it is its epoch minute."""


@dataclass(frozen=True, slots=True)
class Batch:
    """A checked batch, ready to store: its events as COPY text and the minutes they fall in."""

    count: int
    minutes: list[datetime]
    copy: bytes
    """One ``courier_stat_chunks`` row per line (:data:`COPY_COLUMNS`), in COPY's text format: per series
    (name, tags, type) and minute, up to :data:`CHUNK` events as two arrays, times and values."""


def micros(ts: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (exact)."""
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


Groups = dict[tuple[str, int], tuple[list[int], list[float]]]
"""``("name<TAB>tags<TAB>type<TAB>" escaped for COPY, epoch minute)`` → (times in µs, values), in the order
the events were accepted."""


def chunk_copy(groups: Groups) -> tuple[bytes, bool]:
    """The COPY text of ``groups``, :data:`CHUNK` events per row; and whether every value is finite.

    Times and values are written by ``msgspec.json.encode`` (ints as they are; floats as the shortest text
    that reads back as the same float, like ``repr``), the list's brackets swapped for an array's braces.
    A non-finite value comes out as ``null``, which is how it is noticed.
    """
    encode = msgspec.json.encode
    minute_texts: dict[int, bytes] = {}
    lines: list[bytes] = []
    finite = True
    for (series, minute), (times, values) in groups.items():
        head = minute_texts.get(minute)
        if head is None:
            head = minute_texts[minute] = datetime.fromtimestamp(minute * 60, UTC).isoformat().encode()
        head += b"\t" + series.encode()
        for start in range(0, len(times), CHUNK):
            numbers = encode(values[start : start + CHUNK])
            if b"null" in numbers:
                finite = False
            lines.append(b"%s{%s}\t{%s}\n" % (head, encode(times[start : start + CHUNK])[1:-1], numbers[1:-1]))
    return b"".join(lines), finite


def batch_of(rows: list[Row]) -> Batch:
    """Rows made elsewhere (tests, benchmarks, Courier's own stats) as a :class:`Batch` to store."""
    return Batch(count=len(rows), minutes=sorted({row[0] for row in rows}), copy=copy_text(rows))


def copy_text(rows: list[Row]) -> bytes:
    """``rows`` in the COPY text of ``courier_stat_chunks``: grouped by series and minute, in their order."""
    texts: dict[tuple[str, str, str], str] = {}
    groups: Groups = {}
    for minute, ts, name, tags, kind, value in rows:
        text = texts.get((name, tags, kind))
        if text is None:
            text = texts[(name, tags, kind)] = (
                f"{name.translate(COPY_ESCAPES)}\t{tags.translate(COPY_ESCAPES)}\t{kind}\t"
            )
        group = groups.setdefault((text, micros(minute) // MINUTE_US), ([], []))
        group[0].append(micros(ts))
        group[1].append(value)
    return chunk_copy(groups)[0]
