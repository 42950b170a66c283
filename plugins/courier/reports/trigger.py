"""``ReportReadyTrigger``: poll the report API asynchronously, in the triggerer, until the report is ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from courier.reports.hook import ReportApiHook, ReportState


class ReportReadyTrigger(BaseTrigger):
    """Poll ``get_report`` every ``poll_interval`` seconds (longer when the server sends ``Retry-After``).

    Fires ``{"status": "success", "ticket_id", "polls", "waited"}`` when the report is ready, or
    ``{"status": "error", "reason", "message", ...}`` otherwise: ``reason`` is ``failed`` (the server says the
    ticket failed), ``timeout`` (``deadline`` passed) or ``exception``.

    It only waits: the resumed task downloads, checks and stores the report on a worker (with the storage
    credentials, which the triggerer does not need), so a slow bucket never delays the triggerer's other
    waits and timers.

    :param ticket_id: the ticket to wait for.
    :param report_api_conn_id: connection of the report API.
    :param poll_interval: seconds between polls.
    :param deadline: Unix time after which it gives up.
    :param started_at: Unix time the wait began (for the ``waited`` figure).
    """

    def __init__(
        self,
        ticket_id: str,
        report_api_conn_id: str,
        poll_interval: float,
        deadline: float,
        started_at: float,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.ticket_id = ticket_id
        self.report_api_conn_id = report_api_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.started_at = started_at

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "courier.reports.trigger.ReportReadyTrigger",
            {
                "ticket_id": self.ticket_id,
                "report_api_conn_id": self.report_api_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "started_at": self.started_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        polls = 0
        base = {"ticket_id": self.ticket_id}
        try:
            hook = ReportApiHook(self.report_api_conn_id)
            settings = await asyncio.to_thread(lambda: hook.settings)  # connection lookup may block
            async with httpx.AsyncClient(**settings.client_kwargs(asynchronous=True)) as client:
                while True:
                    answer = await hook.apoll(self.ticket_id, client)
                    polls += 1
                    waited = round(time.time() - self.started_at, 3)
                    if answer.state is ReportState.READY:
                        yield _event({**base, "status": "success", "polls": polls, "waited": waited})
                        return
                    if answer.state is ReportState.FAILED:
                        yield _event(
                            {**base, "status": "error", "reason": "failed", "message": answer.message, "polls": polls}
                        )
                        return
                    delay = max(self.poll_interval, answer.retry_after or 0.0)
                    if time.time() + delay > self.deadline:
                        message = f"report {self.ticket_id} still not ready after {waited:.0f}s ({polls} polls)"
                        yield _event(
                            {**base, "status": "error", "reason": "timeout", "message": message, "polls": polls}
                        )
                        return
                    self.log.info("Report %s not ready (%s); next poll in %.1fs", self.ticket_id, answer.message, delay)
                    await asyncio.sleep(delay)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            yield _event({**base, "status": "error", "reason": "exception", "message": message, "polls": polls})


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
