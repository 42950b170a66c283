"""Stats events without a database (``stats/ingest.py``): validation, the wire format, limits, one event struct."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from courier.stats.chunks import CHUNK, Batch
from courier.stats.emit import event
from courier.stats.ingest import EventError, Limits, TooManyEvents, check, decode

NOW = datetime(2026, 11, 29, 12, 30, 15, tzinfo=UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _rows(batch: Batch) -> list[tuple[object, ...]]:
    """The batch's COPY text read back, one (minute, ts, name, tags, type, value) per event, in the order the
    chunks hold them (per series and minute, events in the order sent)."""
    rows: list[tuple[object, ...]] = []
    for line in batch.copy.decode().splitlines():
        minute, name, tags, kind, times, values = line.split("\t")
        stamps, numbers = times.strip("{}").split(","), values.strip("{}").split(",")
        assert len(stamps) == len(numbers) <= CHUNK
        for stamp, number in zip(stamps, numbers, strict=True):
            ts = EPOCH + timedelta(microseconds=int(stamp))
            assert ts.replace(second=0, microsecond=0) == datetime.fromisoformat(minute)
            rows.append((datetime.fromisoformat(minute), ts, name, tags, kind, float(number)))
    assert len(rows) == batch.count
    assert batch.minutes == sorted({row[0] for row in rows})  # type: ignore[type-var]
    return rows


def _check(events: list[dict[str, object]], limits: Limits | None = None) -> list[tuple[object, ...]]:
    return _rows(check(decode(json.dumps(events).encode(), ndjson=False), NOW, limits or Limits()))


def _error(events: list[dict[str, object]], limits: Limits | None = None) -> EventError:
    with pytest.raises(EventError) as caught:
        _check(events, limits)
    return caught.value


def test_good_events_become_rows_with_minute_defaults_and_sorted_tags() -> None:
    rows = _check(
        [
            {
                "name": "api.latency",
                "value": 12.5,
                "type": "timer",
                "tags": {"z": "1", "a": "2"},
                "ts": "2026-11-29T12:29:59.5Z",
            },
            {"name": "queue.depth", "value": 3},
            {"name": "hits", "value": 1, "type": "counter", "ts": NOW.timestamp() - 30},
        ]
    )
    minute, ts, name, tags, kind, value = rows[0]
    assert (minute, name, kind, value) == (datetime(2026, 11, 29, 12, 29, tzinfo=UTC), "api.latency", "timer", 12.5)
    assert ts == datetime(2026, 11, 29, 12, 29, 59, 500000, tzinfo=UTC)
    assert tags == '{"a":"2","z":"1"}'  # one spelling per tag set, whatever order the client sent
    assert rows[1][1] == NOW and rows[1][4] == "gauge" and rows[1][3] == "{}"  # defaults: receive time, gauge
    assert rows[2][0] == datetime(2026, 11, 29, 12, 29, tzinfo=UTC)


def test_ndjson_is_the_same_as_an_array() -> None:
    events = [{"name": "a", "value": 1}, {"name": "b", "value": 2, "type": "counter"}]
    ndjson = "\n".join(json.dumps(e) for e in events).encode() + b"\n\n"
    assert _rows(check(decode(ndjson, ndjson=True), NOW, Limits())) == _check(events)
    with pytest.raises(EventError) as caught:
        decode(ndjson + b'{"name": "c", "value": 3}\n{"name": "d", "value": 4, "type": 5}\n', ndjson=True)
    assert caught.value.loc == ["body", 3, "type"]


def test_epoch_seconds_are_stored_exactly_as_datetime_reads_them() -> None:
    # The fast path writes epoch seconds as text without a datetime per event; it must round microseconds
    # exactly as datetime.fromtimestamp does (half to even, carrying into the next second).
    base = NOW.timestamp()
    stamps = [base - 0.5, base - 0.0000005, base - 0.0000015, base - 1 + 0.9999996, base - 59.999999, base + 1]
    rng = random.Random(3)
    stamps += [base - rng.uniform(0, 590) for _ in range(2000)]
    rows = _check([{"name": "a", "value": i, "ts": ts} for i, ts in enumerate(stamps)])  # value: which event
    for row in rows:
        expected = datetime.fromtimestamp(stamps[int(row[5])], UTC)  # type: ignore[call-overload]
        assert (row[0], row[1]) == (expected.replace(second=0, microsecond=0), expected), stamps[int(row[5])]  # type: ignore[call-overload]
    # RFC 3339 times (any offset) are read through their epoch seconds: still exact to the microsecond
    texts = [
        (NOW - timedelta(seconds=rng.uniform(0, 590))).astimezone(timezone(timedelta(hours=rng.randint(-12, 12))))
        for _ in range(2000)
    ]
    texts += [NOW.replace(microsecond=999999) - timedelta(seconds=1), NOW.replace(microsecond=1)]
    rows = _check([{"name": "a", "value": i, "ts": t.isoformat()} for i, t in enumerate(texts)])
    for row in rows:
        sent = texts[int(row[5])]  # type: ignore[call-overload]
        assert (row[0], row[1]) == (sent.astimezone(UTC).replace(second=0, microsecond=0), sent), sent


def test_minutes_are_those_of_the_events() -> None:
    earlier = NOW.timestamp() - 120
    batch = check(decode(json.dumps([{"name": "a", "value": 1, "ts": earlier}]).encode(), False), NOW, Limits())
    assert batch.minutes == [datetime(2026, 11, 29, 12, 28, tzinfo=UTC)]  # not the receive time's minute
    body = json.dumps([{"name": "a", "value": 1, "ts": earlier}, {"name": "a", "value": 2}]).encode()
    assert check(decode(body, False), NOW, Limits()).minutes == [
        datetime(2026, 11, 29, 12, 28, tzinfo=UTC),
        datetime(2026, 11, 29, 12, 30, tzinfo=UTC),
    ]


def test_values_are_written_so_they_read_back_the_same() -> None:
    values = [0.1 + 0.2, -2e-300, 5e-324, 1.7976931348623157e308, -0.0, 12345678901234567890.0, 3, 100.0]
    rows = _check([{"name": "a", "value": v} for v in values])
    assert [row[5] for row in rows] == values


@pytest.mark.parametrize(
    ("event", "field", "words"),
    [
        ({"name": "", "value": 1}, "name", "1-200"),
        ({"name": "x" * 201, "value": 1}, "name", "1-200"),
        ({"name": "bad\nname", "value": 1}, "name", "control"),
        ({"name": "a", "value": 1, "type": "histogram"}, "type", "counter, gauge, timer"),
        ({"name": "a", "value": 1, "tags": {f"k{i}": "v" for i in range(17)}}, "tags", "at most 16"),
        ({"name": "a", "value": 1, "tags": {"k": "v" * 201}}, "tags", "values at most"),
        ({"name": "a", "value": 1, "ts": "yesterday"}, "ts", "neither"),
        ({"name": "a", "value": 1, "ts": 1.7976931348623155e308}, "ts", "out of the range"),  # 422, not a 500
        ({"name": "a", "value": 1, "ts": "2026-11-29T12:30:00"}, "ts", "no UTC offset"),
        ({"name": "a", "value": 1, "ts": NOW.timestamp() + 61}, "ts", "future"),
        ({"name": "a", "value": 1, "ts": NOW.timestamp() - 601}, "ts", "older than the raw retention"),
    ],
)
def test_a_bad_event_is_named_by_index_and_field(event: dict[str, object], field: str, words: str) -> None:
    error = _error([{"name": "ok", "value": 1}, {"name": "ok", "value": 2}, event])
    assert error.loc == ["body", 2, field]
    assert words in error.message


def test_non_finite_values_are_refused() -> None:
    # JSON has no NaN/Infinity literals, but a client library may send them; msgspec reads them as floats.
    body = b'[{"name": "a", "value": 1}, {"name": "a", "value": NaN}]'
    try:
        events = decode(body, ndjson=False)
    except EventError as exc:  # the parser refuses the literal: also a refusal naming the body
        assert exc.loc[0] == "body"
        return
    with pytest.raises(EventError) as caught:
        check(events, NOW, Limits())
    assert caught.value.loc == ["body", 1, "value"]
    big = decode(b'[{"name": "a", "value": 1e309}]', ndjson=False)  # overflows to inf
    assert math.isinf(big[0].value)
    with pytest.raises(EventError, match="finite"):
        check(big, NOW, Limits())
    # the first bad event is the one named, whichever of its fields is bad
    body = b'[{"name": "a", "value": 1}, {"name": "a", "value": 1e999}, {"name": "", "value": 1}]'
    with pytest.raises(EventError) as caught:
        check(decode(body, ndjson=False), NOW, Limits())
    assert caught.value.loc == ["body", 1, "value"]
    body = b'[{"name": "a", "value": 1}, {"name": "", "value": 1}, {"name": "a", "value": 1e999}]'
    with pytest.raises(EventError) as caught:
        check(decode(body, ndjson=False), NOW, Limits())
    assert caught.value.loc == ["body", 1, "name"]


@pytest.mark.parametrize(
    ("events", "loc"),
    [
        ([{"name": "a", "value": 1}, {"name": "a", "value": 1, "ts": "soon"}, {"name": "", "value": 1}], [1, "ts"]),
        ([{"name": "a", "value": 1}, {"name": "", "value": 1}, {"name": "a", "value": 1, "ts": "soon"}], [1, "name"]),
        ([{"name": "a", "value": 1}, {"name": "", "value": 1, "ts": "soon"}], [1, "name"]),  # series before time
        ([{"name": "b", "value": 1, "ts": "soon"}, {"name": "a", "type": "x", "value": 1}], [0, "ts"]),
        ([{"name": "a", "value": 1}, {"name": "b", "value": 1}, {"name": "a", "value": 1, "tags": 5}], [2, "tags"]),
    ],
)
def test_the_first_bad_event_is_named_whatever_its_bad_field(
    events: list[dict[str, object]], loc: list[object]
) -> None:
    assert _error(events).loc == ["body", *loc]


def test_wire_errors_name_the_event_and_field() -> None:
    with pytest.raises(EventError) as caught:
        decode(b'[{"name": "a", "value": 1}, {"name": "a", "value": "high"}]', ndjson=False)
    assert caught.value.loc == ["body", 1, "value"]
    with pytest.raises(EventError) as caught:
        decode(b'[{"name": "a", "value": 1, "colour": "red"}]', ndjson=False)
    assert caught.value.loc[:2] == ["body", 0]
    with pytest.raises(EventError) as caught:
        decode(b'{"name": "a"}\n{"name": "b", "value": 2}', ndjson=True)
    assert caught.value.loc == ["body", 0, "value"]
    for tags in ('[["k", "v"]]', '{"k": 1}', '"k:v"'):
        with pytest.raises(EventError) as caught:
            check(
                decode(f'[{{"name": "a", "value": 1}}, {{"name": "a", "value": 1, "tags": {tags}}}]'.encode(), False),
                NOW,
                Limits(),
            )
        assert caught.value.loc == ["body", 1, "tags"], tags
    with pytest.raises(EventError) as caught:
        decode(b"[{not json", ndjson=False)
    assert caught.value.loc == ["body"] and "not a JSON" in caught.value.message


def test_batch_size_limits() -> None:
    with pytest.raises(EventError, match="no events"):
        _check([])
    with pytest.raises(TooManyEvents):
        _check([{"name": "a", "value": i} for i in range(6)], Limits(max_events=5))
    assert len(_check([{"name": "a", "value": i} for i in range(5)], Limits(max_events=5))) == 5


def test_one_event_struct_and_each_pattern_defined_once() -> None:
    """The posted event is one msgspec struct (Courier's own events are built as it); the OpenAPI model and the
    checks read the same pattern strings; the test oracle is not shipped in the package."""
    import msgspec

    from courier.stats import chunks, emit, ingest, models, rules

    structs = {
        value
        for module in (chunks, emit, ingest, models, rules)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, msgspec.Struct) and value is not msgspec.Struct
    }
    assert structs == {ingest.EventIn}
    assert type(event("a", 1)) is ingest.EventIn
    assert ingest._NAME_RE.pattern is ingest.NAME_PATTERN and ingest._VALUE_RE.pattern is ingest.VALUE_PATTERN
    assert models.StatEventIn.model_json_schema()["properties"]["name"]["pattern"] == ingest.NAME_PATTERN
    assert not any(hasattr(module, "percentile_cont") for module in (chunks, emit, ingest, models, rules))
