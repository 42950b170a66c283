"""Courier's own webhook events: jobs announce them through courier.webhooks, never through timers (#28)."""

from __future__ import annotations

import importlib
import inspect

from courier.timers.models import RESERVED_KEY_PREFIX
from courier.webhooks import events
from courier.webhooks.signing import JOB_EVENT_ID_PREFIX
from tests.unit.test_layers import import_graph


def test_a_job_event_is_an_evt_id_with_the_reserved_key() -> None:
    event = events.job_event("job_1", "success", "https://example.com/hook/")
    assert event.id.startswith(JOB_EVENT_ID_PREFIX) and len(event.id) == len(JOB_EVENT_ID_PREFIX) + 24
    assert event.idempotency_key == "courier-job:job_1:success" and event.idempotency_key.startswith(
        RESERVED_KEY_PREFIX
    )
    assert event.payload == {"type": "job.success", "job_id": "job_1", "status": "success"}


def test_the_queue_path_names_the_timers_store_function_taking_events() -> None:
    module, name = events.QUEUE.split(":")
    enqueue = getattr(importlib.import_module(module), name)
    assert list(inspect.signature(enqueue).parameters) == ["events", "conninfo", "created_by"]


def test_jobs_import_nothing_of_timers() -> None:
    edges = {
        (module, target)
        for module, imports in import_graph().items()
        if module.startswith("courier.jobs")
        for target in imports
        if target.startswith("courier.timers")
    }
    assert not edges, edges
