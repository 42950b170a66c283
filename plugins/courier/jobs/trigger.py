"""The wait: one trigger in the triggerer polls every job of one ``delayed_request`` batch until each is final.

It holds no worker slot. Its state is the database (owner token, upstream id, deadline, retries), so a
triggerer that stops and another that resumes the trigger continue where it was, without resubmitting a job
whose attempt is alive.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from airflow.triggers.base import BaseTrigger, TriggerEvent

from courier.jobs.processor import stepper_for


class JobsTrigger(BaseTrigger):
    """Advance the jobs ``job_ids`` owned by ``owner`` every ``poll_interval`` seconds until none is open.

    Fires ``{"status": "success", "stats"}`` when every job is final, or ``{"status": "error", "message"}``
    when it cannot start (no processor connection, no database).

    :param owner: the claim token (the ``delayed_request`` run id).
    :param job_ids: the batch this trigger watches.
    :param poll_interval: seconds between polls of the processor.
    """

    def __init__(self, owner: str, job_ids: list[str], poll_interval: float = 2.0) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.owner = owner
        self.job_ids = list(job_ids)
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "courier.jobs.trigger.JobsTrigger",
            {"owner": self.owner, "job_ids": self.job_ids, "poll_interval": self.poll_interval},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            stepper, http = await asyncio.to_thread(stepper_for, self.owner)
        except Exception as exc:
            yield TriggerEvent({"status": "error", "message": str(exc)})  # type: ignore[no-untyped-call]
            return
        async with http:
            while True:
                try:
                    works = await asyncio.to_thread(stepper.store.owned, self.owner, self.job_ids)
                except (psycopg.OperationalError, OSError) as exc:
                    self.log.warning("Courier database unreachable (%s); retrying", exc)
                    await asyncio.sleep(max(self.poll_interval, 2.0))
                    continue
                if not works:
                    yield TriggerEvent({"status": "success", "stats": stepper.stats})  # type: ignore[no-untyped-call]
                    return
                await stepper.advance_all(works)
                await asyncio.sleep(self.poll_interval)
