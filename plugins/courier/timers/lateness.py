"""A dispatcher's own figures, buffered off its hot path: each attempt's lateness (sent - due, ms) as a Courier
stat, written at most once a second in a worker thread on one long-held connection
(:class:`courier.stats.emit.Recorder` with ``hold``), and the platform's metrics (:class:`courier.metrics.TimerMeter`,
sent once a second). Best effort: a stats failure is logged by the recorder and never touches delivery."""

from __future__ import annotations

import asyncio
import logging
import time

from courier import metrics
from courier.db.hook import CourierDbHook
from courier.stats.emit import Recorder
from courier.timers.models import Delivery

log = logging.getLogger(__name__)

NAME = "courier.timers.lateness_ms"
EVERY = 1.0
"""Seconds between two writes of the buffered stats at least."""


class Lateness:
    """Buffer the outcomes' lateness; :meth:`tick` (the loop's, every 0.1 s) sends what is due."""

    def __init__(self, db: CourierDbHook) -> None:
        self._stats = Recorder(db, hold=True)
        self._meter = metrics.TimerMeter()
        self._written_at = 0.0
        self._writing: asyncio.Future[int] | None = None

    def add(self, outcomes: list[Delivery]) -> None:
        try:
            for o in outcomes:
                late = None
                if o.started is not None:
                    late = (o.started.timestamp() - o.timer.due) * 1000
                    self._stats.add(NAME, late, tags={"outcome": str(o.status)})
                self._meter.fired(str(o.status), late)
        except Exception as exc:  # never let a stat break the record loop
            log.debug("Timer dispatcher: own stats skipped: %s", exc)

    def tick(self) -> None:
        """Send the metrics (at most once a second, whether timers fire or not) and start a write of the
        buffered stats in a worker thread when a second passed and none is running."""
        self._meter.flush()
        idle = self._writing is None or self._writing.done()
        if len(self._stats) and idle and time.monotonic() - self._written_at >= EVERY:
            self._written_at = time.monotonic()
            self._writing = asyncio.ensure_future(asyncio.to_thread(self._stats.flush))

    def close(self) -> None:
        """Write what is buffered, send the metrics, close the held connection (blocking: run in a thread)."""
        self._stats.flush()
        self._meter.flush(force=True)
        self._stats.close()
