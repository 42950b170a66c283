"""What moves a job on, on workers only: submit, store the result, retry, fail.

:meth:`Stepper.advance` is the one step of a job's progress; the ``process`` task of ``delayed_request``
runs it (:func:`work_on`) for first submissions and again each time
:class:`~courier.jobs.trigger.JobsTrigger` fires with the outcomes it saw (it only polls
``GET /jobs/{id}``: :mod:`courier.jobs.upstream`). Parsing of the processor's answers is tolerant
(:mod:`courier.jobs.rules`); 429/503 answers are retried after ``Retry-After`` by the shared HTTP layer.

The result (``result_url``) is fetched from the connection's host, or a host its ``allowed_hosts`` extra
names, with the connection's credentials for its own origin only, redirects followed to those hosts only,
and streamed to storage within ``max_result_bytes`` (docs/jobs.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from courier.db.hook import pooled
from courier.http import HttpSettings, RetriesExhausted, arequest
from courier.jobs.hook import JobsApiHook
from courier.jobs.rules import MAX_RETRIES, Status, Upstream, UpstreamError, UpstreamStatus, parse_upstream_id
from courier.jobs.store import JobStore, Moved, Work
from courier.jobs.upstream import CONN_ID, POLICY, TIMEOUT, ProcessorClient, as_status, client, status
from courier.webhooks.policy import host_allowed

__all__ = ["CONN_ID", "ProcessorClient", "Stepper", "client", "fetch_result", "status", "stepper_for", "work_on"]
log = logging.getLogger(__name__)
RESULTS_PREFIX = "jobs"
MAX_RESULT_BYTES = 1 << 30  # a result larger than this (connection extra max_result_bytes) is not stored
MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 20


class SubmitRefused(RuntimeError):
    """The processor refused or failed a submission for good."""


class ResultRefused(ValueError):
    """The result URL (or a redirect) leads off the processor's host, or the result is too large."""


async def submit(http: httpx.AsyncClient, files: list[str], params: dict[str, Any]) -> str:
    """``POST /jobs``; return the upstream id (tolerant of ``id``/``job_id``/``jobId``)."""
    response = await arequest(http, "POST", "/jobs", POLICY, json={"files": files, "params": params})
    if response.status_code not in (200, 201, 202):
        raise SubmitRefused(f"POST /jobs answered HTTP {response.status_code}: {response.text[:200]}")
    return parse_upstream_id(response.json())


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


async def _open_result(http: httpx.AsyncClient, settings: HttpSettings, result_url: str) -> httpx.Response:
    """GET the result, streamed. Only the connection's host and its ``allowed_hosts`` extra are fetched from;
    the connection's credentials (auth, headers) go to its own origin only; a redirect is followed to those
    hosts only (at most :data:`MAX_REDIRECTS`)."""
    own = http.base_url
    others = settings.allowed_hosts
    url = httpx.URL(result_url)
    if url.is_relative_url:  # under the base URL, as the client merges a relative URL
        url = own.copy_with(raw_path=own.raw_path + url.raw_path.lstrip(b"/"))
    async with httpx.AsyncClient(timeout=http.timeout, verify=settings.verify) as bare:
        for _ in range(MAX_REDIRECTS + 1):
            if url.host != own.host and not (others and host_allowed(url.host, others)):
                raise ResultRefused(
                    f"result URL {url} is not on the processor's host {own.host!r} nor in the connection's "
                    f"allowed_hosts extra ({', '.join(others) or 'none'}): not fetched"
                )
            if url.scheme not in ("http", "https"):
                raise ResultRefused(f"result URL {url}: only http and https are fetched")
            trusted = _origin(url) == _origin(own)
            sender = http if trusted else bare  # the bare client carries no credentials
            response = await arequest(sender, "GET", str(url), POLICY, stream=True, follow_redirects=False)
            if not response.is_redirect:
                return response
            await response.aclose()
            url = url.join(response.headers["location"])
    raise ResultRefused(f"result URL {result_url}: more than {MAX_REDIRECTS} redirects")


async def fetch_result(http: httpx.AsyncClient, result_url: str, job_id: str) -> str:
    """GET the result (absolute or relative URL) and store it at ``jobs/<job_id>/report.csv``; return that path.

    The body is streamed to storage in chunks (never held whole), at most the connection extra
    ``max_result_bytes`` (default :data:`MAX_RESULT_BYTES`); a failed or refused fetch stores nothing."""
    from courier.storage import open_write_bytes, storage_base

    settings = http.settings if isinstance(http, ProcessorClient) else HttpSettings(base_url=str(http.base_url))
    limit = int(settings.extra.get("max_result_bytes") or MAX_RESULT_BYTES)
    relative = f"{RESULTS_PREFIX}/{job_id}/report.csv"
    response = await _open_result(http, settings, result_url)
    try:
        response.raise_for_status()
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise ResultRefused(f"result of job {job_id} is {declared} bytes; at most {limit} are stored")
        writing = open_write_bytes(storage_base() / relative)
        out = await asyncio.to_thread(writing.__enter__)
        try:
            size = 0
            async for chunk in response.aiter_bytes(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise ResultRefused(f"result of job {job_id} is over {limit} bytes: not stored")
                await asyncio.to_thread(out.write, chunk)
        except BaseException as exc:
            await asyncio.to_thread(writing.__exit__, type(exc), exc, exc.__traceback__)
            raise
        await asyncio.to_thread(writing.__exit__, None, None, None)
    finally:
        await response.aclose()
    return relative


def cancel_upstream(upstream_id: str) -> None:
    """Best effort ``DELETE /jobs/{id}`` (processors that cannot cancel answer 404/405: ignored)."""
    try:
        with httpx.Client(**JobsApiHook(CONN_ID).settings.client_kwargs()) as http:
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
    file_urls: Callable[[Work], list[str]]
    """The URLs the processor fetches ``work``'s files with (for that job only, until its deadline)."""
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

    async def advance(self, work: Work, seen: dict[str, Any] | None = None) -> Moved | None:
        """Take one step for ``work``; return the transition made, if any.

        ``seen`` is the outcome a trigger saw for ``work`` (:func:`courier.jobs.upstream.outcome`): it is
        acted on instead of asking the processor again; an outcome of an earlier attempt is ignored."""
        if work.upstream_id is None:
            try:
                urls = await asyncio.to_thread(self.file_urls, work)
                upstream_id = await submit(self.http, urls, work.params)
            except (SubmitRefused, UpstreamError, RetriesExhausted, httpx.HTTPError, ValueError) as exc:
                return await self._failed(work, f"submit failed: {exc}")
            self._count("submitted")
            await asyncio.to_thread(self.store.record_submit, work.job_id, self.owner, upstream_id)
            return None
        if seen is not None and seen.get("upstream_id") != work.upstream_id:
            return None  # about an attempt that is over
        timed_out = seen["state"] == TIMEOUT if seen is not None else None
        if timed_out or (seen is None and work.deadline_at is not None and datetime.now(UTC) >= work.deadline_at):
            await asyncio.to_thread(cancel_upstream, work.upstream_id)
            return await self._failed(work, f"timed out after {self.timeout:g} s ([courier] job_timeout)", "timeout")
        state: UpstreamStatus | None
        if seen is not None:
            state = as_status(seen)
            assert state is not None
        else:
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

    async def advance_all(
        self, works: list[Work], concurrency: int = 64, seen: dict[str, dict[str, Any]] | None = None
    ) -> None:
        gate = asyncio.Semaphore(concurrency)
        seen = seen or {}

        async def one(work: Work) -> None:
            async with gate:
                try:
                    await self.advance(work, seen.get(work.job_id))
                except Exception:
                    log.exception("job %s: step failed; trying again next poll", work.job_id)

        await asyncio.gather(*(one(w) for w in works))
        if self.finished:  # one stats write per round, off the event loop
            from courier.jobs import outcomes

            finished, self.finished = self.finished, []
            await asyncio.to_thread(outcomes.record, finished)


def _file_urls(work: Work) -> list[str]:
    """URLs for ``work``'s files, valid for that job only and until its deadline (at most ``job_timeout``)."""
    from courier.config import load
    from courier.jobs.fetch_urls import expires_at, file_url

    expires = expires_at(work.deadline_at, float(load().job_timeout))
    return [file_url(f, work.job_id, expires) for f in work.files]


def stepper_for(owner: str) -> tuple[Stepper, httpx.AsyncClient]:
    """A :class:`Stepper` for ``owner`` and the HTTP client it uses (close it): what the ``process`` task and
    :func:`work_on` runs.

    Its store uses the process's shared connection pool (:mod:`courier.db.pool`): a batch makes two or three
    store calls per job, which must not each open a connection (a PostgreSQL backend fork)."""
    from courier.config import load
    from courier.jobs.callbacks import notify

    http = client()
    stepper = Stepper(JobStore(pooled()), owner, http, load().job_timeout, _file_urls, notify)
    return stepper, http


def work_on(owner: str, job_ids: list[str], outcomes: list[dict[str, Any]]) -> tuple[list[Work], dict[str, int]]:
    """The ``process`` task's part, on a worker: act on the ``outcomes`` a trigger saw (store results, retry or
    fail), submit every job of ``job_ids`` that ``owner`` holds without a live attempt (first submissions and
    in-place retries); return the jobs still waiting for the processor, and what was done.

    The database is the state: a job another owner took, or one already final, is left alone, and an
    outcome about an attempt that is over is ignored, so a repeated event changes nothing."""
    stepper, http = stepper_for(owner)

    async def go() -> list[Work]:
        seen = {o["job_id"]: o for o in outcomes}
        async with http:
            for _ in range(MAX_RETRIES + 2):  # a failed submit is retried in place once, then final
                works = await asyncio.to_thread(stepper.store.owned, owner, job_ids)
                todo = [w for w in works if w.upstream_id is None or w.job_id in seen]
                if not todo:
                    return works
                await stepper.advance_all(todo, seen=seen)
                seen = {}  # each outcome is acted on once
            return await asyncio.to_thread(stepper.store.owned, owner, job_ids)

    return asyncio.run(go()), stepper.stats
