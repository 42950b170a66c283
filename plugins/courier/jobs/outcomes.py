"""Jobs reaching a final status as Courier stats: ``courier.jobs.finished`` (a counter, 1 per job) and
``courier.jobs.duration_seconds`` (creation to final status), both tagged with ``outcome``.

Best effort (:mod:`courier.stats.emit`): a lost stat never fails the job, and a batch of transitions is one
write, never one per job.
"""

from __future__ import annotations

from collections.abc import Iterable

from courier.jobs.rules import Status
from courier.jobs.store import Moved
from courier.stats import emit
from courier.stats.ingest import EventIn

OUTCOMES = (Status.SUCCESS, Status.FAILED, Status.CANCELLED)
"""The final statuses a transition can set (``downloaded`` only follows ``success``)."""


def events(moves: Iterable[Moved]) -> list[EventIn]:
    """The stats of the transitions in ``moves`` that made a job final (others are skipped)."""
    out: list[EventIn] = []
    for moved in moves:
        if moved.status not in OUTCOMES:
            continue
        tags = {"outcome": str(moved.status)}
        out.append(emit.event("courier.jobs.finished", 1, "counter", tags))
        if moved.seconds is not None:
            out.append(emit.event("courier.jobs.duration_seconds", moved.seconds, "timer", tags))
    return out


def record(moves: Iterable[Moved]) -> int:
    """Write the stats of ``moves`` in one batch; return how many events were stored (never raises)."""
    return emit.record(events(moves))
