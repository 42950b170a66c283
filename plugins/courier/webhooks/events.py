"""Courier's own webhook events (job completion callbacks): their ids, their idempotency keys, their queue.

An event is delivered like any timer, by the timers' dispatcher: ``url + id``, signed with the job-event key
(ids ``evt_``, :mod:`courier.webhooks.signing`), the address policy checked again at send time, the
``[courier] webhook_retry_schedule``. Its idempotency key ``courier-job:<job id>:<status>`` makes each
(job, status) one delivery however often it is announced; a timer may not take a key starting
:data:`JOB_EVENT_KEY_PREFIX`.

The queue is the timers' table, owned by :mod:`courier.timers.store`. :func:`schedule` reaches it through
:data:`QUEUE`, an import path resolved at call time (as a registry entry names a module), so a domain that
announces events depends on webhooks, not on timers, and no module of a lower layer imports a domain.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from courier.webhooks.signing import JOB_EVENT_ID_PREFIX

JOB_EVENT_KEY_PREFIX = "courier-job:"
"""Job events' idempotency keys: a timer taking one would stand in for the event."""
QUEUE = "courier.timers.store:enqueue_events"
"""Where events are queued: ``module:function`` taking ``(events, conninfo, created_by)``, returning ids."""


def new_id(prefix: str) -> str:
    """A URL-safe delivery id (it is appended to the target URL): ``tmr_`` for timers, ``evt_`` for events."""
    return prefix + secrets.token_hex(12)


@dataclass(frozen=True)
class Event:
    """One webhook event to deliver now: POSTed to ``url + id`` with ``payload`` as the body's payload."""

    id: str
    url: str
    payload: Any
    idempotency_key: str


def job_event(job_id: str, status: str, url: str) -> Event:
    """The event announcing that job ``job_id`` reached ``status``."""
    payload = {"type": f"job.{status}", "job_id": job_id, "status": status}
    return Event(new_id(JOB_EVENT_ID_PREFIX), url, payload, f"{JOB_EVENT_KEY_PREFIX}{job_id}:{status}")


class Queue(Protocol):
    def __call__(self, events: Sequence[Event], conninfo: str | None, created_by: str) -> list[str]: ...


def schedule(events: Sequence[Event], conninfo: str | None = None, created_by: str = "courier") -> list[str]:
    """Queue ``events`` for delivery now (one transaction); return each one's delivery id (an existing
    delivery's for a key already queued)."""
    module, name = QUEUE.split(":")
    enqueue: Queue = getattr(importlib.import_module(module), name)
    return enqueue(events, conninfo, created_by)
