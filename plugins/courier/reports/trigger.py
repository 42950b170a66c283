"""``ReportReadyTrigger``: poll the report API asynchronously, in the triggerer, until the report is ready."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from courier.reports.csvcheck import MalformedReport
from courier.reports.files import store_report
from courier.reports.hook import ReportApiHook, ReportState


class ReportReadyTrigger(BaseTrigger):
    """Poll ``get_report`` every ``poll_interval`` seconds (longer when the server sends ``Retry-After``).

    Fires ``{"status": "success", "ticket_id", "polls", "waited"}`` when the report is ready, or
    ``{"status": "error", "reason", "message", ...}`` otherwise: ``reason`` is ``failed`` (the server says the
    ticket failed), ``timeout`` (``deadline`` passed), ``malformed`` (see below) or ``exception``.

    With ``store`` (``{"storage_base", "dag_id", "slot"}``) the trigger also checks and stores the report
    the moment it is ready, since it holds the body already: "ready → stored" then costs no worker resume
    (~1-3 s), which the latency target needs. A malformed report gives ``{"status": "error", "reason":
    "malformed"}`` and stores nothing. Storing is a whole-object write of the same bytes to the same key, so
    a second copy of the trigger (triggerer fail-over) is harmless.

    :param ticket_id: the ticket to wait for.
    :param report_api_conn_id: connection of the report API.
    :param poll_interval: seconds between polls.
    :param deadline: Unix time after which it gives up.
    :param started_at: Unix time the wait began (for the ``waited`` figure).
    :param store: where to store the report when ready (None: only wait).
    """

    def __init__(
        self,
        ticket_id: str,
        report_api_conn_id: str,
        poll_interval: float,
        deadline: float,
        started_at: float,
        store: dict[str, str | None] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.ticket_id = ticket_id
        self.report_api_conn_id = report_api_conn_id
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.started_at = started_at
        self.store = store

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "courier.reports.trigger.ReportReadyTrigger",
            {
                "ticket_id": self.ticket_id,
                "report_api_conn_id": self.report_api_conn_id,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "started_at": self.started_at,
                "store": self.store,
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
                    answer = await hook.afetch(self.ticket_id, client)
                    polls += 1
                    waited = round(time.time() - self.started_at, 3)
                    if answer.state is ReportState.READY:
                        yield _event({**base, **(await self._stored(answer.body)), "polls": polls, "waited": waited})
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

    async def _stored(self, body: bytes) -> dict[str, Any]:
        """Check and store the report (when asked to); return the event fields that say how it went."""
        if self.store is None:
            return {"status": "success"}
        try:
            stored = await asyncio.to_thread(
                store_report,
                self.store.get("storage_base"),
                str(self.store["dag_id"]),
                str(self.store["slot"]),
                self.ticket_id,
                body,
            )
        except MalformedReport as exc:
            return {"status": "error", "reason": "malformed", "message": str(exc)}
        return {"status": "success", "stored": stored}


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
