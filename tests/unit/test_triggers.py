"""Every trigger of the package survives the trip through the triggerer's table: ``serialize()`` names an
importable class, and the kwargs, stored with Airflow's own serializer and read back, build a trigger that
serializes to the same thing. A new trigger fails ``test_every_trigger_has_an_example`` until it gets one."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

import courier

EXAMPLES: dict[str, dict[str, Any]] = {
    "courier.jobs.trigger.JobsTrigger": {
        "owner": "manual__2026-12-07",
        "jobs": [
            {"job_id": "j-1", "upstream_id": "up-1", "deadline": "2026-12-07T12:15:00+00:00"},
            {"job_id": "j-2", "upstream_id": "up-2", "deadline": None},
        ],
        "poll_interval": 2.0,
        "hold": 5.0,
        "stats": {"success": 3},
    },
    "courier.timers.trigger.TimerDispatchTrigger": {"overrides": {"batch": 50, "horizon": 2.0}},
    "courier.timers.trigger.TimerDeliveredTrigger": {"timer_id": "0190-abc", "poll_interval": 0.5},
    "courier.reports.trigger.ReportReadyTrigger": {
        "ticket_id": "tkt-1",
        "report_api_conn_id": "report_api_default",
        "poll_interval": 10.0,
        "deadline": 1_900_000_000.0,
        "started_at": 1_899_999_000.0,
    },
}
"""Trigger class path -> constructor kwargs of a realistic instance."""


def _package_triggers() -> set[str]:
    """Every ``BaseTrigger`` subclass defined in a trigger-holding module of the package."""
    found: set[str] = set()
    for info in pkgutil.walk_packages(courier.__path__, "courier."):
        if not info.name.endswith(("trigger", "triggers")):
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseTrigger) and value.__module__ == module.__name__:
                found.add(f"{module.__name__}.{value.__qualname__}")
    return found


def test_every_trigger_has_an_example() -> None:
    assert _package_triggers() == set(EXAMPLES)


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_serialize_round_trips_through_airflows_serializer(path: str) -> None:
    from airflow.serialization.serialized_objects import BaseSerialization

    module, _, name = path.rpartition(".")
    trigger = getattr(importlib.import_module(module), name)(**EXAMPLES[path])
    classpath, kwargs = trigger.serialize()
    assert classpath == path  # the triggerer imports exactly this
    stored = BaseSerialization.serialize(kwargs)  # what the trigger table holds
    again = getattr(importlib.import_module(module), name)(**BaseSerialization.deserialize(stored))
    assert again.serialize() == (classpath, kwargs)
    assert set(EXAMPLES[path]) <= set(kwargs)  # nothing given to the constructor is lost
