"""The stats retention rule (pure): when a minute's raw events may be dropped."""

from __future__ import annotations

from datetime import datetime, timedelta


def prunable(minute: datetime, now: datetime, retention: float, rolled_up_to: datetime | None, dirty: bool) -> bool:
    """Whether the raw events of ``minute`` may be dropped.

    Only when the whole minute is older than the retention (plus one minute, so an event ingest could
    still accept never lands in a dropped minute) AND the minute is rolled up: below the watermark and with
    no events that arrived after its last roll-up.
    """
    if dirty or rolled_up_to is None or minute + timedelta(minutes=1) > rolled_up_to:
        return False
    return minute + timedelta(minutes=1) <= now - timedelta(seconds=retention + 60)
