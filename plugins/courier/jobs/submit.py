"""Submitting jobs (one, or a batch of up to :data:`~courier.jobs.models.MAX_BATCH`): every check, then one insert.

Both routes go through :func:`submit`: each job's callback URL and files are checked; a bad field of any job
is named (:class:`BadJobs`, the API's 422; ``loc`` ``["body", "jobs", <index>, <field>, …]`` in a batch) and
nothing is stored; otherwise every job is inserted in one statement of one transaction. A job whose ``idempotency_key`` exists
is not inserted: the existing job is returned as it is, flagged not created, when it is the caller's and came
from the same request (keys are scoped to their creator; the caller's key with another body is a 409). A
caller without full access names only their own files: file ids they pushed, paths of their uploads and of
their own jobs' reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import psycopg

from courier.jobs.models import JobIn, JobOut
from courier.jobs.store import JobStore, NewJob, new_id
from courier.jobs.storing import FILE_ID_RE, BadReference, base_url, full_path, relative_reference
from courier.webhooks.policy import Resolver
from courier.wire import fingerprint

Loc = tuple[str | int, ...]
Error = dict[str, Any]


class BadJobs(ValueError):
    """Fields of the submitted jobs are wrong: ``errors`` names each (the API answers 422 with them)."""

    def __init__(self, errors: list[Error]) -> None:
        super().__init__(f"{len(errors)} bad field(s): {errors[0]['msg']}")
        self.errors = errors


def _error(loc: Sequence[str | int], msg: str) -> Error:
    return {"loc": ["body", *loc], "msg": msg, "type": "value_error"}


def _callback_urls(requests: Sequence[tuple[Loc, JobIn]]) -> list[tuple[Loc, str]]:
    """Each callback URL as it will be called (with an event id appended), with the ``loc`` of its job."""
    from courier.webhooks.events import new_id
    from courier.webhooks.signing import JOB_EVENT_ID_PREFIX

    return [(loc, job.callback_url + new_id(JOB_EVENT_ID_PREFIX)) for loc, job in requests if job.callback_url]


async def callback_lookup(requests: Sequence[tuple[Loc, JobIn]], batch: bool = False) -> Resolver | None:
    """Resolve the callback URLs' names on the event loop, within ``[courier] webhook_dns_timeout`` (no
    thread waits on DNS), for :func:`submit`; None when no job has a callback. :class:`BadJobs` when they
    name more than ``MAX_HOSTS`` distinct hosts."""
    wanted = _callback_urls(requests)
    if not wanted:
        return None
    from courier.config import load
    from courier.webhooks.policy import TooManyHosts, aprefetch

    cfg = await asyncio.to_thread(load)
    try:
        return await aprefetch(
            [url for _, url in wanted],
            cfg.webhook_allow_private_targets,
            cfg.webhook_allowed_hosts,
            deadline=cfg.webhook_dns_timeout,
        )
    except TooManyHosts as exc:
        raise BadJobs([_error(("jobs",) if batch else ("callback_url",), str(exc))]) from None


def _callback_errors(requests: Sequence[tuple[Loc, JobIn]], resolver: Resolver | None) -> list[Error]:
    """Each callback URL checked as it will be called: the webhook policy (names answered by ``resolver``,
    :func:`callback_lookup`; looked up here, blocking, without one), and a signing secret set."""
    wanted = _callback_urls(requests)
    if not wanted:
        return []
    from courier.config import load
    from courier.webhooks.policy import TargetRefused, check_url, resolve

    cfg = load()
    errors: list[Error] = []
    for loc, url in wanted:
        try:
            check_url(url, cfg.webhook_allow_private_targets, resolver or resolve, cfg.webhook_allowed_hosts)
        except TargetRefused as exc:
            errors.append(_error((*loc, "callback_url"), str(exc)))
            continue
        if not cfg.webhook_secret:
            errors.append(
                _error(
                    (*loc, "callback_url"),
                    "callbacks are signed and [courier] webhook_secret is not set: leave callback_url out",
                )
            )
    return errors


def _repeated_keys(requests: Sequence[tuple[Loc, JobIn]]) -> list[Error]:
    """A key given twice in one batch is a client mistake (which body would it mean?): 422 on the repeat."""
    first: dict[str, Loc] = {}
    errors: list[Error] = []
    for loc, job in requests:
        key = job.idempotency_key
        if key is None:
            continue
        if key in first:
            where = "/".join(str(part) for part in first[key])
            errors.append(_error((*loc, "idempotency_key"), f"repeats the idempotency_key of {where} in this batch"))
        else:
            first[key] = loc
    return errors


def visible_files(known: dict[str, tuple[str, str | None]], scope: str | None) -> dict[str, str]:
    """File id -> path of the pushed files of ``known`` (id -> (path, pusher)) that ``scope`` pushed (all for
    None: full access). Another user's file id is as unknown as one that does not exist."""
    return {file_id: path for file_id, (path, by) in known.items() if scope is None or by == scope}


def path_references(requests: Sequence[tuple[Loc, JobIn]]) -> list[str]:
    """The clean storage-relative paths the jobs name (file ids and bad references left out)."""
    refs = [ref for _, job in requests for ref in job.files_to_process if not FILE_ID_RE.match(ref)]
    if not refs:
        return []
    configured = base_url()
    found: list[str] = []
    for ref in refs:
        try:
            found.append(relative_reference(ref, configured))
        except BadReference:
            continue
    return found


def resolve_files(
    requests: Sequence[tuple[Loc, JobIn]], known: dict[str, str], allowed_paths: set[str] | None = None
) -> tuple[list[list[str]], list[Error]]:
    """Each job's storage-relative files (``known``: file id -> path of the pushed files that exist and the caller
    may use), and an error naming each bad entry. A path must be in ``allowed_paths`` unless that is None (full
    access): the caller's own uploads and their own jobs' reports. The storage base is read once, and only
    when a path (not a file id) is given."""
    from courier.storage import storage_base

    has_paths = any(not FILE_ID_RE.match(ref) for _, job in requests for ref in job.files_to_process)
    base, configured = (storage_base(), base_url()) if has_paths else (None, "")
    resolved: list[list[str]] = []
    errors: list[Error] = []
    for loc, job in requests:
        paths: list[str] = []
        for i, ref in enumerate(job.files_to_process):
            where = (*loc, "files_to_process", i)
            if FILE_ID_RE.match(ref):
                if ref in known:
                    paths.append(known[ref])
                else:
                    errors.append(_error(where, f"no pushed file {ref!r}"))
                continue
            try:
                relative = relative_reference(ref, configured)
            except BadReference as exc:
                errors.append(_error(where, str(exc)))
                continue
            if allowed_paths is not None and relative not in allowed_paths:
                errors.append(_error(where, f"{ref!r} is not a file you pushed nor the report of a job of yours"))
                continue
            if base is None or not full_path(relative, base).is_file():
                errors.append(_error(where, f"no file {ref!r} under the storage base"))
                continue
            paths.append(relative)
        resolved.append(paths)
    return resolved, errors


def new_job(job: JobIn, files: list[str], creator: str) -> NewJob:
    """The job to store for the request ``job`` of ``creator``, its files resolved."""
    return NewJob(new_id(), files, job.params, job.idempotency_key, job.callback_url, creator, fingerprint(job))


def submit(
    requests: Sequence[tuple[Loc, JobIn]],
    store: JobStore,
    creator: str,
    scope: str | None,
    resolver: Resolver | None = None,
) -> list[tuple[JobOut, bool]]:
    """Check and store ``requests`` of ``creator`` (each with the ``loc`` its errors are reported at) in one
    transaction; return each job and whether it is new. ``scope``: the creator whose files the jobs may name
    (None: any file, full access). :class:`BadJobs` naming every bad field of every job: nothing stored;
    :class:`~courier.wire.KeyReused` for a key ``creator`` used with another request: nothing stored.
    ``resolver`` answers the callback URLs' names (:func:`callback_lookup`, the API's request path)."""
    errors = _callback_errors(requests, resolver) + _repeated_keys(requests)
    ids = sorted({ref for _, job in requests for ref in job.files_to_process if FILE_ID_RE.match(ref)})
    conn: psycopg.Connection[dict[str, Any]]
    with store.connect() as conn:  # the files' lookup and the insert: one pooled connection, one transaction
        known = visible_files(store.file_paths(ids, conn), scope) if ids else {}
        allowed: set[str] | None = None
        if scope is not None:
            paths = path_references(requests)
            allowed = {p for _, p in store.files_by([scope] * len(paths), paths, conn)} if paths else set()
        files, bad_files = resolve_files(requests, known, allowed)
        errors += bad_files
        if errors:
            errors.sort(key=lambda e: [str(part).zfill(8) if isinstance(part, int) else part for part in e["loc"]])
            raise BadJobs(errors)
        new = [new_job(job, paths, creator) for (_, job), paths in zip(requests, files, strict=True)]
        return store.create_many(new, conn=conn)
