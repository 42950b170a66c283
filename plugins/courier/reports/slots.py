"""Count the schedule slots a run skipped, like a CronJob's missed schedules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from croniter import croniter


def cron_expression(timetable: Any) -> str | None:
    """Return the cron expression of a cron timetable, else None: the Task SDK's (Airflow 3.2+) call it
    ``expression``; Airflow 3.1's (``airflow.timetables``) show it as their ``summary`` only."""
    for attribute in ("expression", "summary"):
        expression = getattr(timetable, attribute, None)
        if isinstance(expression, str) and len(expression.split()) in (5, 6) and croniter.is_valid(expression):
            return expression
    return None


def as_datetime(value: Any) -> datetime | None:
    """Return a plain datetime from a context value (the Task SDK hands out lazy proxies, possibly of None)."""
    if value is None or not isinstance(value, datetime):
        return None
    return datetime.fromisoformat(value.isoformat())


def skipped_slots(cron: str, previous: datetime | None, current: datetime | None, limit: int = 100_000) -> int:
    """Return how many slots of ``cron`` fall strictly between the previous run's slot and this run's."""
    if previous is None or current is None or current <= previous:
        return 0
    it = croniter(cron, previous)
    count = 0
    while count < limit:
        slot = it.get_next(datetime)
        if slot >= current:
            return count
        count += 1
    return count


def superseded(cron: str, slot: datetime | None, now: datetime) -> bool:
    """Return True when a newer slot of ``cron`` than ``slot`` has already come (this run is late)."""
    if slot is None:
        return False
    return bool(croniter(cron, slot).get_next(datetime) <= now)
