"""Completion webhooks: each final status of a job with a ``callback_url`` becomes a webhook event due now
(:mod:`courier.webhooks.events`), queued as a Courier timer.

The timers' dispatcher (``webhook_timers``) delivers it: signed Standard Webhooks headers whose
``webhook-id`` (the timer id) is the same on every retry, the URL policy checked again at send time, and the
``[courier] webhook_retry_schedule``. Reusing the timer machinery means no second copy of signing, policy
and retries. As for every timer, the POST goes to ``callback_url + <delivery id>`` with the body
``{"id", "scheduled_for", "fired_at", "payload": {"type": "job.<status>", "job_id", "status"}}``; the
idempotency key ``courier-job:<job_id>:<status>`` makes each (job, status) one delivery however often it is
announced (timers may not take keys starting ``courier-job:``).

Unlike a user's timer, a job event has an ``evt_`` id and is signed with the job-event secret derived from
``webhook_secret`` (:mod:`courier.webhooks.signing`): a receiver tells a job event from a timer carrying the
same body by which secret verifies it (docs/jobs.md).
"""

from __future__ import annotations

import logging

from courier.jobs.rules import Status
from courier.jobs.store import Moved
from courier.webhooks.events import job_event, schedule

log = logging.getLogger(__name__)
ANNOUNCED = (Status.SUCCESS, Status.FAILED, Status.DOWNLOADED)


def notify(moved: Moved, conninfo: str | None = None) -> str | None:
    """Schedule the delivery for ``moved`` if it is final and has a callback; return the delivery id."""
    if moved.status not in ANNOUNCED or not moved.callback_url:
        return None
    event = job_event(moved.job_id, str(moved.status), moved.callback_url)
    try:
        (delivery_id,) = schedule([event], conninfo, created_by="courier-jobs")
    except Exception as exc:  # the job's status is committed; a lost callback is logged, not fatal
        log.warning("job %s: completion callback not scheduled: %s", moved.job_id, exc)
        return None
    return delivery_id
