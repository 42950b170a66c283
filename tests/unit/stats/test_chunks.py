"""Stats chunks (``stats/chunks.py``): a series' minute is stored in chunks of at most CHUNK events, in order."""

from __future__ import annotations

import json

from courier.stats.chunks import CHUNK
from courier.stats.ingest import Limits, check, decode
from tests.unit.stats.test_ingest import NOW, _rows


def test_a_series_minute_is_stored_in_chunks_of_at_most_chunk_events_in_the_order_sent() -> None:
    earlier = NOW.timestamp() - 60
    events: list[dict[str, object]] = [{"name": "a", "value": i} for i in range(2 * CHUNK + 50)]
    events.insert(7, {"name": "b", "value": -1.0})  # another series between them
    events.insert(9, {"name": "a", "value": -2.0, "ts": earlier})  # the same series, another minute
    batch = check(decode(json.dumps(events).encode(), False), NOW, Limits())
    lines = batch.copy.decode().splitlines()
    assert [line.split("\t")[1] for line in lines] == [
        "a",
        "a",
        "a",
        "b",
        "a",
    ]  # 3 chunks, then b, then a's other minute
    rows = _rows(batch)
    assert [row[5] for row in rows if row[2] == "a" and row[0] == NOW.replace(second=0, microsecond=0)] == [
        float(i) for i in range(2 * CHUNK + 50)
    ]
