"""The processor's read side: its connection's client and ``GET /jobs/{id}``, parsed.

What :class:`~courier.jobs.trigger.JobsTrigger` needs to wait (and nothing that submits, cancels, downloads
or stores: that is :mod:`courier.jobs.processor_client`, which runs on workers only). Kept apart so that the
triggerer loads no storage writer and no code that changes anything at the processor
(``tests/unit/test_layers.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from courier.http import HttpSettings, RetryPolicy, arequest
from courier.jobs.hook import JobsApiHook
from courier.jobs.rules import Upstream, UpstreamStatus, parse_status

CONN_ID = "jobs_api_default"  # JobsApiHook.default_conn_name: the literal, so the deploy tests find it
POLICY = RetryPolicy(attempts=4, backoff=0.5, max_backoff=10.0, max_retry_after=60.0)


class ProcessorClient(httpx.AsyncClient):
    """The processor connection's client; it keeps the connection's settings (allowed hosts, result bound)."""

    def __init__(self, settings: HttpSettings) -> None:
        super().__init__(**settings.client_kwargs(asynchronous=True))
        self.settings = settings


def client(settings: HttpSettings | None = None) -> ProcessorClient:
    return ProcessorClient(settings or JobsApiHook(CONN_ID).settings)  # the jobs type's extras, typed


async def status(http: httpx.AsyncClient, upstream_id: str) -> UpstreamStatus:
    """``GET /jobs/{id}`` parsed; an unknown id (404) is :attr:`Upstream.MISSING`."""
    response = await arequest(http, "GET", f"/jobs/{upstream_id}", POLICY)
    if response.status_code == 404:
        return UpstreamStatus(Upstream.MISSING, error=f"the processor does not know job {upstream_id}")
    response.raise_for_status()
    return parse_status(response.json())


TIMEOUT = "timeout"
"""The ``state`` of an outcome whose attempt ran past its deadline (the trigger saw no final answer)."""


def outcome(job_id: str, upstream_id: str, state: UpstreamStatus | str, error: str | None = None) -> dict[str, Any]:
    """One job's outcome as a trigger event carries it: everything the resuming task needs to act on it
    (store the result of ``ready``, retry or fail ``failed``/``missing``/``timeout``) without asking again."""
    if isinstance(state, str):
        return {"job_id": job_id, "upstream_id": upstream_id, "state": state, "result_url": None, "error": error}
    return {
        "job_id": job_id,
        "upstream_id": upstream_id,
        "state": str(state.state),
        "result_url": state.result_url,
        "error": state.error or error,
    }


def as_status(item: dict[str, Any]) -> UpstreamStatus | None:
    """The :class:`UpstreamStatus` an event's outcome stands for (None for a timeout)."""
    if item["state"] == TIMEOUT:
        return None
    return UpstreamStatus(Upstream(item["state"]), result_url=item.get("result_url"), error=item.get("error"))


def past(deadline: str | None, now: datetime | None = None) -> bool:
    """Whether an ISO ``deadline`` (a job attempt's ``deadline_at``) has passed."""
    return deadline is not None and (now or datetime.now(UTC)) >= datetime.fromisoformat(deadline)
