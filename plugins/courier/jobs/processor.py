"""The processor client and the one step that moves a job on: submit, poll, store the result, retry, fail.

The same :func:`advance` runs in the ``delayed_request`` task (first submissions, in batches) and in the
trigger (polling, the in-place retry), so there is one implementation of the job's progress. Parsing of the
processor's answers is tolerant (:mod:`courier.jobs.rules`); 429/503 answers are retried after
``Retry-After`` by the shared HTTP layer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from courier.http import HttpSettings, RetriesExhausted, RetryPolicy, arequest, settings_for
from courier.jobs.rules import Status, Upstream, UpstreamError, parse_status, parse_upstream_id
from courier.jobs.store import JobStore, Moved, Work

log = logging.getLogger(__name__)
CONN_ID = "jobs_api_default"
POLICY = RetryPolicy(attempts=4, backoff=0.5, max_backoff=10.0, max_retry_after=60.0)
RESULTS_PREFIX = "jobs"


class SubmitRefused(RuntimeError):
    """The processor refused or failed a submission for good."""


def client(settings: HttpSettings | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(**(settings or settings_for(CONN_ID)).client_kwargs())


async def submit(http: httpx.AsyncClient, files: list[str], params: dict[str, Any]) -> str:
    """``POST /jobs``; return the upstream id (tolerant of ``id``/``job_id``/``jobId``)."""
    response = await arequest(http, "POST", "/jobs", POLICY, json={"files": files, "params": params})
    if response.status_code not in (200, 201, 202):
        raise SubmitRefused(f"POST /jobs answered HTTP {response.status_code}: {response.text[:200]}")
    return parse_upstream_id(response.json())


async def status(http: httpx.AsyncClient, upstream_id: str) -> Any:
    """``GET /jobs/{id}`` parsed; an unknown id (404) is :attr:`Upstream.MISSING`."""
    from courier.jobs.rules import UpstreamStatus

    response = await arequest(http, "GET", f"/jobs/{upstream_id}", POLICY)
    if response.status_code == 404:
        return UpstreamStatus(Upstream.MISSING, error=f"the processor does not know job {upstream_id}")
    response.raise_for_status()
    return parse_status(response.json())


async def fetch_result(http: httpx.AsyncClient, result_url: str, job_id: str) -> str:
    """GET the result (absolute or relative URL) and store it at ``jobs/<job_id>/report.csv``; return that path."""
    relative = f"{RESULTS_PREFIX}/{job_id}/report.csv"
    response = await arequest(http, "GET", result_url, POLICY)
    response.raise_for_status()
    await asyncio.to_thread(_write, relative, response.content)
    return relative


def _write(relative: str, data: bytes) -> None:
    from courier.storage import is_local, storage_base

    target = storage_base() / relative
    if is_local(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.part")
        staging.write_bytes(data)
        staging.replace(target)
    else:
        target.write_bytes(data)


def cancel_upstream(upstream_id: str) -> None:
    """Best effort ``DELETE /jobs/{id}`` (processors that cannot cancel answer 404/405: ignored)."""
    try:
        with httpx.Client(**settings_for(CONN_ID).client_kwargs()) as http:
            http.delete(f"/jobs/{upstream_id}", timeout=5)
    except Exception as exc:
        log.info("upstream job %s not cancelled: %s", upstream_id, exc)


@dataclass
class Stepper:
    """Moves the jobs of one owner on, one :meth:`advance` at a time; ``notify`` hears every final status."""

    store: JobStore
    owner: str
    http: httpx.AsyncClient
    timeout: float
    file_urls: Callable[[list[str]], list[str]]
    notify: Callable[[Moved], object] | None = None
    stats: dict[str, int] = field(default_factory=dict)
    finished: list[Moved] = field(default_factory=list)  # transitions not yet written as stats (final ones are)

    def _count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    async def _moved(self, moved: Moved) -> Moved:
        if moved.status is not None:
            self._count(str(moved.status) if moved.status is not Status.PROCESSING else "retried")
            self.finished.append(moved)
        if self.notify and moved.status in (Status.SUCCESS, Status.FAILED):
            await asyncio.to_thread(self.notify, moved)
        return moved

    async def _failed(self, work: Work, error: str, outcome: str = "failed") -> Moved:
        log.info("job %s attempt %d %s: %s", work.job_id, work.attempt, outcome, error)
        moved = await asyncio.to_thread(
            self.store.attempt_failed, work.job_id, self.owner, error, outcome, self.timeout
        )
        return await self._moved(moved)

    async def advance(self, work: Work) -> Moved | None:
        """Take one step for ``work``; return the transition made, if any."""
        if work.upstream_id is None:
            try:
                urls = await asyncio.to_thread(self.file_urls, work.files)
                upstream_id = await submit(self.http, urls, work.params)
            except (SubmitRefused, UpstreamError, RetriesExhausted, httpx.HTTPError, ValueError) as exc:
                return await self._failed(work, f"submit failed: {exc}")
            self._count("submitted")
            await asyncio.to_thread(self.store.record_submit, work.job_id, self.owner, upstream_id)
            return None
        if work.deadline_at is not None and datetime.now(UTC) >= work.deadline_at:
            await asyncio.to_thread(cancel_upstream, work.upstream_id)
            return await self._failed(work, f"timed out after {self.timeout:g} s ([courier] job_timeout)", "timeout")
        try:
            state = await status(self.http, work.upstream_id)
        except (UpstreamError, ValueError) as exc:
            return await self._failed(work, str(exc))
        except (RetriesExhausted, httpx.HTTPError) as exc:
            log.warning("job %s: polling failed (%s); trying again next poll", work.job_id, exc)
            return None
        if state.state is Upstream.RUNNING:
            return None
        if state.state is not Upstream.READY:
            return await self._failed(work, state.error or str(state.state))
        assert state.result_url is not None
        try:
            report = await fetch_result(self.http, state.result_url, work.job_id)
        except Exception as exc:  # stored later by delayed_request_download
            log.warning("job %s: result not stored now (%s); the download DAG fetches it", work.job_id, exc)
            report = None
        moved = await asyncio.to_thread(self.store.succeed, work.job_id, self.owner, state.result_url, report)
        return await self._moved(moved)

    async def advance_all(self, works: list[Work], concurrency: int = 64) -> None:
        gate = asyncio.Semaphore(concurrency)

        async def one(work: Work) -> None:
            async with gate:
                try:
                    await self.advance(work)
                except Exception:
                    log.exception("job %s: step failed; trying again next poll", work.job_id)

        await asyncio.gather(*(one(w) for w in works))
        if self.finished:  # one stats write per round, off the event loop
            from courier.jobs import outcomes

            finished, self.finished = self.finished, []
            await asyncio.to_thread(outcomes.record, finished)


def _file_urls(files: list[str]) -> list[str]:
    from courier.jobs.fileurls import file_url

    return [file_url(f) for f in files]


def stepper_for(owner: str) -> tuple[Stepper, httpx.AsyncClient]:
    """A :class:`Stepper` for ``owner`` and the HTTP client it uses (close it): what the ``process`` task and
    :class:`~courier.jobs.trigger.JobsTrigger` both run.

    Its store uses the process's shared connection pool (:mod:`courier.db.pool`): a batch makes two or three
    store calls per job, which must not each open a connection (a PostgreSQL backend fork)."""
    from courier.config import load
    from courier.jobs.callbacks import notify

    http = client()
    stepper = Stepper(JobStore.pooled(), owner, http, load().job_timeout, _file_urls, notify)
    return stepper, http
