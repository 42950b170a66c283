"""Courier's own stats (``stats/emit.py``): the recorder buffers, encodes and never raises."""

from __future__ import annotations

import json

from courier.stats.emit import Recorder, encode, event


def test_recorder_buffers_encodes_and_never_raises() -> None:
    recorder = Recorder("postgresql://courier@127.0.0.1:1/nowhere?connect_timeout=1", max_buffer=2)
    recorder.add("courier.timers.lateness_ms", 3.5, tags={"outcome": "delivered"})
    recorder.add("courier.timers.lateness_ms", float("nan"))
    recorder.add("dropped", 1)
    assert len(recorder) == 2 and recorder.dropped == 1
    assert recorder.flush() == 0  # no database there (and a NaN): logged, not raised
    assert len(recorder) == 0
    body = json.loads(encode([event("a", 2, "counter", {"k": "v"})]))
    assert body[0]["name"] == "a" and body[0]["type"] == "counter" and body[0]["tags"] == {"k": "v"}
