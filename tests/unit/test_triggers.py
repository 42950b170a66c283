"""Every trigger of the package survives the trip through the triggerer's table: ``serialize()`` names an
importable class, and the kwargs, stored with Airflow's own serializer and read back, build a trigger that
serializes to the same thing. The triggers are found, not listed: every module of ``courier`` is imported and
every ``BaseTrigger`` subclass defined in one is a case; a trigger without a sample in :data:`SAMPLES` fails."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from airflow.triggers.base import BaseTrigger

import courier

SAMPLES: dict[str, dict[str, Any]] = {
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


def _subclasses(cls: type) -> list[type]:
    return [found for sub in cls.__subclasses__() for found in (sub, *_subclasses(sub))]


def package_triggers() -> dict[str, type[BaseTrigger]]:
    """Every ``BaseTrigger`` subclass defined in a module of the package, by class path (every module imported,
    whatever its name: a trigger defined outside a ``trigger`` module is found too)."""
    for info in pkgutil.walk_packages(courier.__path__, "courier."):
        if info.name.rpartition(".")[2] != "__main__":  # running it is starting the demo
            importlib.import_module(info.name)
    return {
        f"{cls.__module__}.{cls.__qualname__}": cls
        for cls in _subclasses(BaseTrigger)
        if cls.__module__.startswith("courier.")
    }


TRIGGERS = package_triggers()


@pytest.mark.parametrize("path", sorted(set(TRIGGERS) | set(SAMPLES)))
def test_serialize_round_trips_through_airflows_serializer(path: str) -> None:
    from airflow.serialization.serialized_objects import BaseSerialization

    assert path in SAMPLES, f"{path} is a trigger without a sample: add its constructor kwargs to SAMPLES in {__name__}"
    assert path in TRIGGERS, f"SAMPLES names {path}, which is no BaseTrigger subclass of the package"
    cls = TRIGGERS[path]
    classpath, kwargs = cls(**SAMPLES[path]).serialize()
    assert classpath == path  # the triggerer imports exactly this
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name) is cls
    assert cls(**kwargs).serialize() == (classpath, kwargs)  # the kwargs rebuild an equal trigger
    stored = BaseSerialization.serialize(kwargs)  # what the trigger table holds
    again = cls(**BaseSerialization.deserialize(stored))
    assert again.serialize() == (classpath, kwargs)
    assert {key: kwargs.get(key) for key in SAMPLES[path]} == SAMPLES[path]  # nothing given is lost or changed
