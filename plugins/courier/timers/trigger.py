"""Triggers of the timers domain: the dispatcher loop, and a wait for one timer's final status."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from courier.config import CourierConfigError
from courier.db.hook import CourierDbHook
from courier.timers.rules import Status


class TimerDispatchTrigger(BaseTrigger):
    """Run a :class:`~courier.timers.dispatcher.Dispatcher` in the triggerer until cancelled.

    It holds no worker slot. When the triggerer stops, the trigger is cancelled: the dispatcher hands its
    unfired claims back, and the trigger resumes in the next triggerer (Airflow re-assigns deferred
    triggers), so the schedule of the ``webhook_timers`` DAG never needs a new run to keep timers firing.
    Running it twice (two triggerers, HA) is safe: timers are claimed with leases in the database.

    Fires ``{"status": "success", "stats"}`` when the dispatcher stopped, or ``{"status": "error", "message"}``
    when it cannot start (``"reason": "config"`` and ``"setting"`` when a ``[courier]`` setting is the cause).

    :param overrides: :class:`~courier.timers.dispatcher.DispatcherSettings` fields to change (pacing only).
    """

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.overrides = overrides or {}

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("courier.timers.trigger.TimerDispatchTrigger", {"overrides": self.overrides})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from courier.timers.dispatcher import Dispatcher, DispatcherSettings

        try:
            settings = await asyncio.to_thread(DispatcherSettings.from_config, **self.overrides)
            db = CourierDbHook()
            await db.aconninfo()  # resolved once, in a thread: a missing connection is an error event
        except CourierConfigError as exc:  # a setting Courier cannot use: fail the task, no retry helps
            yield _event({"status": "error", "reason": "config", "setting": exc.key, "message": str(exc)})
            return
        except Exception as exc:  # say what is wrong, do not loop
            yield _event({"status": "error", "message": str(exc)})
            return
        dispatcher = Dispatcher(db, settings)
        await dispatcher.run()  # returns only when stopped; cancellation ends it cleanly
        yield _event({"status": "success", "stats": dispatcher.stats})


class TimerDeliveredTrigger(BaseTrigger):
    """Wait until a timer reaches a final status (delivered, failed, cancelled, expired); read-only.

    Every such trigger of a triggerer waits through the event loop's one
    :class:`~courier.timers.watch.DeliveryWatch`: one connection and one query per interval for all of
    them, never a connection per waiting task. The deferral's timeout is the task's (the operator sets it).

    Fires ``{"status": "success", "timer_id", "timer_status": "delivered"}``, or ``{"status": "error",
    "timer_id", "reason": <final status> | "missing", "message": <last error>}``.

    :param timer_id: the timer to watch.
    :param poll_interval: seconds between reads (the watch reads at the smallest interval asked).
    """

    def __init__(self, timer_id: str, poll_interval: float = 1.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.timer_id = timer_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "courier.timers.trigger.TimerDeliveredTrigger",
            {"timer_id": self.timer_id, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from courier.timers.watch import MISSING, watch

        base = {"timer_id": self.timer_id}
        status, error = await watch().wait(self.timer_id, self.poll_interval)
        if status == MISSING:
            yield _event({**base, "status": "error", "reason": "missing", "message": "no such timer"})
        elif status == Status.DELIVERED:
            yield _event({**base, "status": "success", "timer_status": status})
        else:
            yield _event({**base, "status": "error", "reason": status, "message": error})


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
