"""The wait: one trigger in the triggerer polls the processor for the jobs of one ``delayed_request`` batch.

It only reads: ``GET /jobs/{id}`` for each job (:mod:`courier.jobs.upstream`) until some have an outcome,
then one event carries every outcome (the result URL, the error, a passed deadline) to the ``process``
task, which acts on it on a worker — stores the result, retries or fails the job, submits again — and
defers again for the jobs still running (:func:`courier.jobs.processor_client.work_on`). The trigger submits
nothing, downloads nothing, writes nothing and holds no database connection: its state is its arguments,
so a triggerer that stops and another that resumes it continue where it was.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from courier.http import RetriesExhausted, settings_for
from courier.jobs.rules import Upstream, UpstreamError
from courier.jobs.upstream import CONN_ID, TIMEOUT, ProcessorClient, outcome, past, status

UNSUBMITTED = "unsubmitted"
"""The ``state`` of a job handed to the trigger without an upstream id (the task submits it)."""


class JobsTrigger(BaseTrigger):
    """Poll the processor for ``jobs`` every ``poll_interval`` seconds; fire when they all have an outcome,
    or ``hold`` seconds after the first one had (so results are stored soon, with few task resumes).

    Fires ``{"status": "success", "owner", "outcomes": [{"job_id", "upstream_id", "state", "result_url",
    "error"}], "waiting": [job ids still running], "polls", "stats"}`` (``state``: ``ready``, ``failed``,
    ``missing``, ``timeout`` — the attempt's deadline passed —, ``unsubmitted``), or ``{"status": "error",
    "reason": "config", "message"}`` when the processor connection cannot be read.

    :param owner: the claim token (the ``delayed_request`` run id).
    :param jobs: ``{"job_id", "upstream_id", "deadline"}`` (ISO time) of each job to watch.
    :param poll_interval: seconds between polls of the processor.
    :param hold: seconds to keep polling the others after the first outcome.
    :param stats: what the task did so far, handed back in the event (the task's return value adds up).
    """

    def __init__(
        self,
        owner: str,
        jobs: list[dict[str, Any]],
        poll_interval: float = 2.0,
        hold: float = 5.0,
        stats: dict[str, int] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.owner = owner
        self.jobs = [dict(j) for j in jobs]
        self.poll_interval = poll_interval
        self.hold = hold
        self.stats = dict(stats or {})

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "courier.jobs.trigger.JobsTrigger",
            {
                "owner": self.owner,
                "jobs": self.jobs,
                "poll_interval": self.poll_interval,
                "hold": self.hold,
                "stats": self.stats,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            settings = await asyncio.to_thread(settings_for, CONN_ID)  # the connection lookup may block
        except Exception as exc:
            yield _event({"status": "error", "reason": "config", "message": f"{type(exc).__name__}: {exc}"})
            return
        waiting = {j["job_id"]: j for j in self.jobs}
        outcomes: list[dict[str, Any]] = []
        first_outcome: float | None = None
        polls = 0
        gate = asyncio.Semaphore(64)
        async with ProcessorClient(settings) as http:
            while True:
                seen = await asyncio.gather(*(self._look(http, job, gate) for job in waiting.values()))
                polls += 1
                for item in seen:
                    if item is not None:
                        outcomes.append(item)
                        del waiting[item["job_id"]]
                if outcomes and first_outcome is None:
                    first_outcome = time.monotonic()
                if not waiting or (first_outcome is not None and time.monotonic() - first_outcome >= self.hold):
                    yield _event(
                        {
                            "status": "success",
                            "owner": self.owner,
                            "outcomes": outcomes,
                            "waiting": sorted(waiting),
                            "polls": polls,
                            "stats": self.stats,
                        }
                    )
                    return
                await asyncio.sleep(self.poll_interval)

    async def _look(
        self, http: httpx.AsyncClient, job: dict[str, Any], gate: asyncio.Semaphore
    ) -> dict[str, Any] | None:
        """The outcome of ``job``, or None while it runs (or the processor cannot be asked now)."""
        job_id, upstream_id = job["job_id"], job.get("upstream_id")
        if upstream_id is None:
            return outcome(job_id, "", UNSUBMITTED) | {"upstream_id": None}
        if past(job.get("deadline"), datetime.now(UTC)):
            return outcome(job_id, upstream_id, TIMEOUT)
        async with gate:
            try:
                state = await status(http, upstream_id)
            except (UpstreamError, ValueError) as exc:
                return outcome(job_id, upstream_id, str(Upstream.FAILED), error=str(exc))
            except (RetriesExhausted, httpx.HTTPError) as exc:
                self.log.warning("job %s: polling failed (%s); trying again next poll", job_id, exc)
                return None
        return None if state.state is Upstream.RUNNING else outcome(job_id, upstream_id, state)


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]
