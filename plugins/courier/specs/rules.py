"""A spec cell's life cycle and its queue order, as pure functions (no I/O).

``queued → running → passed | failed | flaky | skipped``; a failed attempt puts the cell back in the queue
(``queued``) until it has failed ``retries + 1`` times; a cell that passes after a failure is ``flaky``; a
``running`` cell whose lease ran out is open again (its attempt is recorded ``lost``).

These rules are what runs: :class:`~courier.specs.store.SpecQueue` builds its SQL from these statuses and
records the status :func:`next_status` gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from courier.specs.speclist import Cell


class Status(StrEnum):
    """A cell's status."""

    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    FLAKY = "flaky"
    SKIPPED = "skipped"


class Outcome(StrEnum):
    """What one attempt at a cell gave (``TIMED_OUT`` counts as a failure; ``LOST``: its worker stopped renewing
    the lease)."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    TIMED_OUT = "timed_out"
    LOST = "lost"


OPEN = (Status.QUEUED, Status.RUNNING)
"""A worker claims these (a running one once its lease ran out); a run with none is done."""
FINAL = (Status.PASSED, Status.FAILED, Status.FLAKY, Status.SKIPPED)
NOT_PASSED = (Status.FAILED, *OPEN)
"""What ``rerun_failed_of`` runs again: failed, or never finished."""
HISTORY_RUNS = 10
"""How many of a cell's latest passing attempts its expected duration is the median of."""


def order_cells(cells: Sequence[Cell], expected_ms: dict[str, float]) -> list[tuple[Cell, float | None]]:
    """Return the cells in queue order: no history first (list order), then the longest expected first."""
    unknown = [(c, None) for c in cells if c.key not in expected_ms]
    known = sorted(
        ((c, expected_ms[c.key]) for c in cells if c.key in expected_ms), key=lambda pair: -pair[1]
    )  # sorted() is stable: equal estimates keep list order
    return [*unknown, *known]


def next_status(outcome_status: str, failures: int, retries: int) -> tuple[str, int]:
    """Return (the cell's new status, its failure count) after an attempt ended with ``outcome_status``."""
    if outcome_status == Outcome.PASSED:
        return (Status.FLAKY if failures else Status.PASSED), failures
    if outcome_status == Outcome.SKIPPED:
        return Status.SKIPPED, failures
    failures += 1
    return (Status.QUEUED if failures <= retries else Status.FAILED), failures
