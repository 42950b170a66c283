"""``/courier/jobs``: push files, submit delayed-request jobs, read, list, fetch the report, cancel.

``files_router`` holds the one Courier route without a bearer token: the processor fetches a pushed file
with an expiring HMAC signature in the query (see :mod:`courier.jobs.fileurls`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile as StarletteUploadFile

from courier.api.bodies import json_body, json_request, limited, too_large
from courier.api.errors import ApiError, error_responses
from courier.api.files_policy import DOWNLOAD_HEADERS
from courier.db.hook import pooled
from courier.jobs import fileurls
from courier.jobs.files import (
    FILE_ID_RE,
    BadReference,
    TooLarge,
    base_url,
    full_path,
    relative_reference,
    store_upload,
    url_of,
)
from courier.jobs.models import MAX_FILES, FileOut, JobIn, JobOut, JobPage
from courier.jobs.rules import HAS_REPORT, Status
from courier.jobs.store import JobNotCancellable, JobNotFound, JobStore, Moved, NewJob, new_id
from courier.wire import Rfc3339

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])
files_router = APIRouter(prefix="/jobs", tags=["jobs"])
MULTIPART_OVERHEAD = 64 * 1024
"""Bytes an upload's body may carry beyond the file (boundaries, part headers, small fields)."""
MAX_FORM_FIELDS = 8
_UNPROCESSABLE = status.HTTP_422_UNPROCESSABLE_CONTENT


def _not_found(job_id: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}", loc=("path", "job_id"))


UPLOAD_SCHEMA = {
    "title": "FileUpload",
    "type": "object",
    "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"}},
    "required": ["file"],
}


@router.post(
    "/files",
    response_model=FileOut,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(400, 413),
    openapi_extra={
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": UPLOAD_SCHEMA}}},
    },
)
async def push_file(request: Request) -> FileOut:
    """Upload one file (``multipart/form-data``, field ``file``); 413 past ``[courier] job_max_upload_bytes``.

    The body is read only after authorization (``access("jobs")``), and never past the limit: the parser
    stops with 413 as soon as the bytes read pass it, and nothing is stored.
    """
    from courier.config import load_one

    limit = int(await run_in_threadpool(load_one, "job_max_upload_bytes"))
    body = limited(
        request, limit, "job_max_upload_bytes", allowance=MULTIPART_OVERHEAD, what="the file", loc=("body", "file")
    )
    async with body.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MULTIPART_OVERHEAD) as form:
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            raise ApiError(
                _UNPROCESSABLE,
                "send the file as a multipart/form-data part named 'file', with a filename",
                loc=("body", "file"),
                type="missing" if file is None else "value_error",
            )
        return await run_in_threadpool(_store_file, file, limit)


def _store_file(file: StarletteUploadFile, limit: int) -> FileOut:
    try:
        file_id, relative, size, sha256 = store_upload(file.file, file.filename, limit)
    except TooLarge:
        raise too_large(limit, "job_max_upload_bytes", loc=("body", "file"), what="the file") from None
    out = FileOut(file_id=file_id, path=url_of(relative), bytes=size, sha256=sha256)
    JobStore(pooled()).add_file(out.model_copy(update={"path": relative}))
    return out


def _resolve_files(refs: list[str], known_files: Callable[[list[str]], dict[str, str]]) -> list[str]:
    """Storage-relative paths of ``refs`` (file ids or paths; ``known_files`` looks ids up); 422 naming each
    bad entry. The configuration is read only when a path (not a file id) is given."""
    from courier.storage import storage_base

    errors: list[dict[str, Any]] = []
    ids = [r for r in refs if FILE_ID_RE.match(r)]
    known = known_files(ids) if ids else {}
    base = storage_base() if len(ids) < len(refs) else None
    resolved: list[str] = []
    for i, ref in enumerate(refs):
        loc = ["body", "files_to_process", i]
        if FILE_ID_RE.match(ref):
            if ref not in known:
                errors.append({"loc": loc, "msg": f"no pushed file {ref!r}", "type": "value_error"})
                continue
            resolved.append(known[ref])
            continue
        try:
            relative = relative_reference(ref, base_url())
        except BadReference as exc:
            errors.append({"loc": loc, "msg": str(exc), "type": "value_error"})
            continue
        if base is None or not full_path(relative, base).is_file():
            errors.append({"loc": loc, "msg": f"no file {ref!r} under the storage base", "type": "value_error"})
            continue
        resolved.append(relative)
    if errors:
        raise ApiError(_UNPROCESSABLE, errors=errors)
    return resolved


def _check_callback(url: str | None) -> None:
    if url is None:
        return
    from courier.config import load
    from courier.timers.models import new_id as new_timer_id
    from courier.timers.policy import TargetRefused, check_url
    from courier.timers.signing import JOB_EVENT_ID_PREFIX

    cfg = load()
    try:  # checked as it is called: with an event id appended
        check_url(
            url + new_timer_id(JOB_EVENT_ID_PREFIX),
            cfg.webhook_allow_private_targets,
            allowed_hosts=cfg.webhook_allowed_hosts,
        )
    except TargetRefused as exc:
        raise ApiError(_UNPROCESSABLE, str(exc), loc=("body", "callback_url")) from None
    if not cfg.webhook_secret:
        raise ApiError(
            _UNPROCESSABLE,
            "callbacks are signed and [courier] webhook_secret is not set: leave callback_url out",
            loc=("body", "callback_url"),
        )


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {"model": JobOut, "description": "A job with this idempotency_key exists: it is returned, nothing new."},
        **error_responses(400, 413, 415),
    },
    openapi_extra=json_request(JobIn),
)
def submit_job(job: Annotated[JobIn, json_body(JobIn)], response: Response) -> JobOut:
    """Queue a job; ``delayed_request`` claims queued jobs in arrival order and has the processor do them."""
    _check_callback(job.callback_url)
    store = JobStore(pooled())
    with store.connect() as conn:  # the files' lookup and the insert: one pooled connection, one transaction
        files = _resolve_files(job.files_to_process, lambda ids: store.file_paths(ids, conn))
        new = NewJob(new_id(), files, job.params, job.idempotency_key, job.callback_url)
        out, created = store.create(new, conn=conn)
    if not created:
        response.status_code = status.HTTP_200_OK
    else:
        from courier.jobs.start import wake

        wake()
    return out


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(404))
def get_job(job_id: str) -> JobOut:
    """The whole job document with every attempt."""
    try:
        return JobStore(pooled()).get(job_id)
    except JobNotFound:
        raise _not_found(job_id) from None


@router.get("", response_model=JobPage)
def list_jobs(
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    since: Rfc3339 | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FILES)] = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Jobs, newest first; ``since`` keeps those created at or after it; ``next_cursor`` gives the next page."""
    try:
        jobs, next_cursor = JobStore(pooled()).page(status_filter, since, limit, cursor)
    except ValueError:
        raise ApiError(_UNPROCESSABLE, "cursor is not one this API handed out", loc=("query", "cursor")) from None
    return {"jobs": jobs, "next_cursor": next_cursor}


def _chunks(path: Any) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            yield chunk


def _media_type(path: str) -> str:
    return "text/csv" if path.endswith(".csv") else "application/octet-stream"


@router.get(
    "/{job_id}/report",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/octet-stream": {}}}, **error_responses(404, 409)},
)
def get_report(job_id: str) -> StreamingResponse:
    """Stream the stored result of a ``success`` or ``downloaded`` job (409 before, or while not yet stored)."""
    try:
        current, relative = JobStore(pooled()).report_location(job_id)
    except JobNotFound:
        raise _not_found(job_id) from None
    if current not in HAS_REPORT or not relative:
        why = "is not stored yet (delayed_request_download fetches it)" if current in HAS_REPORT else f"is {current}"
        raise ApiError(status.HTTP_409_CONFLICT, f"job {job_id}'s report {why}", loc=("path", "job_id"))
    path = full_path(relative)
    return StreamingResponse(_chunks(path), media_type=_media_type(relative), headers=DOWNLOAD_HEADERS)


@router.post("/{job_id}/cancel", response_model=JobOut, responses=error_responses(404, 409))
def cancel_job(job_id: str) -> JobOut:
    """Cancel a job that is not final (and its upstream job, where the processor allows it): its status becomes
    ``cancelled`` and the record stays readable; 409 once final."""
    try:
        job, upstream_id = JobStore(pooled()).cancel(job_id)
    except JobNotFound:
        raise _not_found(job_id) from None
    except JobNotCancellable as exc:
        raise ApiError(status.HTTP_409_CONFLICT, str(exc), loc=("path", "job_id")) from None
    from courier.jobs import outcomes

    took = (job.finished_at - job.created_at).total_seconds() if job.finished_at else None
    outcomes.record([Moved(job.job_id, Status.CANCELLED, seconds=took)])
    if upstream_id:
        from courier.jobs.processor import cancel_upstream

        cancel_upstream(upstream_id)
    return job


@files_router.get(
    "/files/content",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **error_responses(403, 404)},
    openapi_extra={"security": []},  # no bearer token: the expiring signature is the credential
)
def signed_file(
    job: Annotated[str, Query(description="the job the URL was signed for")] = "",
    path: Annotated[str, Query(description="the storage-relative file")] = "",
    expires: Annotated[str, Query(description="UNIX time the URL ends at (the job's deadline)")] = "",
    token: Annotated[str, Query(description="the signature: HMAC-SHA256 of job, path and expires, 64 hex digits")] = "",
) -> StreamingResponse:
    """Serve one file of one job to a request signed by Courier (no bearer token: the signature is the
    credential). Anything missing, malformed, wrong, expired, or a file the job does not name: 403."""
    try:
        fileurls.verify(None, job, path, expires, token)
        if path not in JobStore(pooled()).files_of(job):
            raise fileurls.BadSignature(f"job {job} does not name this file")
    except (fileurls.BadSignature, JobNotFound) as exc:
        why = f"no job {job}" if isinstance(exc, JobNotFound) else str(exc)
        raise ApiError(
            status.HTTP_403_FORBIDDEN, f"file URL refused: {why}", loc=("query", fileurls.SIG_PARAM)
        ) from None
    target = full_path(path)
    if not target.is_file():
        raise ApiError(status.HTTP_404_NOT_FOUND, "the signed file no longer exists", loc=("query", "path"))
    return StreamingResponse(_chunks(target), media_type=_media_type(path), headers=DOWNLOAD_HEADERS)
