"""The timer statuses and what a delivery outcome means: delivered, retry later (and when), or give up. Pure.

These rules are what runs: :mod:`courier.timers.store` writes :data:`OPEN`, :data:`UNFIRED`,
:data:`CANCELLABLE` and :data:`PROBLEMS` into its SQL at each call (``status IN (…)`` as literals, so the planner still matches the
partial index ``courier_timers_due``), so changing a rule here changes what the dispatchers claim, what can
be cancelled and what the pages count.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from courier.webhooks.retry import retryable


class Status(StrEnum):
    SCHEDULED = "scheduled"
    FIRING = "firing"
    RETRYING = "retrying"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


OPEN = (Status.SCHEDULED, Status.FIRING, Status.RETRYING)
"""Not final: a dispatcher claims and fires these."""
UNFIRED = (Status.SCHEDULED, Status.RETRYING)
"""Waiting for their next attempt, none on the wire: a stopping dispatcher hands these back."""
CANCELLABLE = OPEN
"""What a cancel stops: every timer not final. A ``firing`` one too (its send may be on the wire: that
request may still arrive, but it is never sent again, and a dispatcher that then records its outcome does
not overwrite the cancel), so a timer whose sends kill their dispatcher can always be stopped."""
MAX_RECLAIMS = 2
"""A ``firing`` timer whose dispatcher died before recording the outcome (its send killed it, or the
triggerer was stopped) is taken over and sent again by another dispatcher at most this many times; found
free again after that, it is ``failed`` with a reason instead of being sent a further time. So a target whose
answer kills the dispatcher (an endless or enormous body) costs at most ``MAX_RECLAIMS + 1`` dispatchers,
not every triggerer in turn. The count is the attempts marked without a recorded outcome
(``attempts`` minus the rows of ``courier_timer_attempts``)."""
FINAL = (Status.DELIVERED, Status.FAILED, Status.CANCELLED, Status.EXPIRED)
PROBLEMS = (Status.FAILED, Status.EXPIRED)
"""Final without a delivery: the pages list them as recent problems."""


@dataclass(frozen=True)
class Decision:
    """The next state after an attempt; ``delay`` (seconds) is set when ``status`` is RETRYING."""

    status: Status
    delay: float | None = None
    reason: str | None = None


def decide(
    status_code: int | None,
    attempt: int,
    schedule: tuple[float, ...],
    retry_after: float | None = None,
    error: str | None = None,
) -> Decision:
    """Decide after attempt number ``attempt`` (1-based) answered ``status_code`` (None: no answer).

    ``schedule[n-1]`` is the delay before attempt ``n+1``; a ``Retry-After`` longer than it wins. What is
    retried is :func:`courier.webhooks.retry.retryable`, the rule of every outbound call.
    """
    if status_code is not None and 200 <= status_code < 300:
        return Decision(Status.DELIVERED)
    what = error or f"HTTP {status_code}"
    if not retryable(status_code):
        return Decision(Status.FAILED, reason=f"{what}: not retried")
    if attempt > len(schedule):
        return Decision(Status.FAILED, reason=f"{what}: gave up after {attempt} attempt(s)")
    delay = max(schedule[attempt - 1], retry_after or 0.0)
    return Decision(Status.RETRYING, delay=delay, reason=what)
