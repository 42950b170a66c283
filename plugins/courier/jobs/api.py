"""``/courier/jobs``: push files, submit delayed-request jobs, read, list, fetch the report, cancel.

``files_router`` holds the one Courier route without a bearer token: the processor fetches a pushed file
with an expiring HMAC signature in the query (see :mod:`courier.jobs.fetch_urls`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile as StarletteUploadFile

from courier.api.auth import Caller, Who
from courier.api.bodies import json_body, json_request, limited, too_large
from courier.api.errors import ApiError, error_responses
from courier.api.ids import Cursor, PathId
from courier.api.served_files import DOWNLOAD_HEADERS
from courier.db.hook import pooled
from courier.jobs import fetch_urls, start
from courier.jobs.intake import INTAKE, by_id_only
from courier.jobs.models import MAX_PAGE, FileOut, JobBatchIn, JobBatchOut, JobIn, JobOut, JobPage
from courier.jobs.rules import HAS_REPORT, Status
from courier.jobs.store import JobNotCancellable, JobNotFound, JobStore, Moved
from courier.jobs.storing import TooLarge, full_path, store_upload, url_of
from courier.jobs.submit import BadJobs, Loc, callback_lookup, submit
from courier.webhooks.policy import Resolver
from courier.wire import KeyReused, Rfc3339

log = logging.getLogger(__name__)
router = APIRouter(prefix="/jobs", tags=["jobs"])
files_router = APIRouter(prefix="/jobs", tags=["jobs"])
MULTIPART_OVERHEAD = 64 * 1024
"""Bytes an upload's body may carry beyond the file (boundaries, part headers, small fields)."""
MAX_FORM_FIELDS = 8
QUOTA_HOURS = 24
"""The window of ``[courier] job_upload_quota_bytes``: bytes pushed in the last this many hours."""
_UNPROCESSABLE = status.HTTP_422_UNPROCESSABLE_CONTENT


def _submit(
    requests: list[tuple[Loc, JobIn]], who: Caller, resolver: Resolver | None = None
) -> list[tuple[JobOut, bool]]:
    try:
        return submit(requests, JobStore(pooled()), who.creator, who.scope, resolver)
    except BadJobs as exc:
        raise ApiError(_UNPROCESSABLE, errors=exc.errors) from None
    except KeyReused as exc:
        raise _key_reused(exc, [requests[i][0] for i in exc.positions]) from None


def _key_reused(exc: KeyReused, locs: list[Loc]) -> ApiError:
    """The 409 naming each idempotency key the caller used before for another request."""
    return ApiError(
        status.HTTP_409_CONFLICT,
        errors=[
            {
                "loc": ["body", *loc, "idempotency_key"],
                "msg": f"idempotency key {key!r} was used before with another request; use a new key",
                "type": "conflict",
            }
            for loc, key in zip(locs, exc.keys, strict=True)
        ],
    )


def _not_found(job_id: str) -> ApiError:
    return ApiError(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}", loc=("path", "job_id"))


UPLOAD_SCHEMA = {
    "title": "FileUpload",
    "type": "object",
    "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream", "title": "File"}},
    "required": ["file"],
    # the contract is the one part; the form reader tolerates up to MAX_FORM_FIELDS other fields (parts: a list
    # is sent as one part per item) and answers more with a 400 naming the limit
    "additionalProperties": False,
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
async def push_file(request: Request, who: Who) -> FileOut:
    """Upload one file (``multipart/form-data``, field ``file``); 413 past ``[courier] job_max_upload_bytes``,
    or when the files pushed in the last 24 hours would pass ``[courier] job_upload_quota_bytes``.

    The body is read only after authorization (``access("jobs")``), and never past the limit: the parser
    stops with 413 as soon as the bytes read pass it, and nothing is stored.
    """
    from courier.config import load_one

    limit = int(await run_in_threadpool(load_one, "job_max_upload_bytes"))
    quota = int(await run_in_threadpool(load_one, "job_upload_quota_bytes"))
    if quota:
        room = quota - await run_in_threadpool(JobStore(pooled()).uploaded_bytes, QUOTA_HOURS)
        if room <= 0:
            raise _over_quota(quota)
        if room < limit:  # the upload stops where the quota does
            return await _push(request, room, "job_upload_quota_bytes", quota, who.creator)
    return await _push(request, limit, "job_max_upload_bytes", limit, who.creator)


def _over_quota(quota: int) -> ApiError:
    return ApiError(
        413,
        f"the files pushed in the last {QUOTA_HOURS} hours would pass [courier] job_upload_quota_bytes "
        f"({quota} bytes); nothing stored",
        loc=("body", "file"),
    )


async def _push(request: Request, limit: int, setting: str, shown: int, creator: str) -> FileOut:
    """Read the upload (at most ``limit`` bytes of file) and store it; 413 naming ``setting`` past it."""
    body = limited(request, limit, setting, allowance=MULTIPART_OVERHEAD, what="the file", loc=("body", "file"))
    async with body.form(max_files=1, max_fields=MAX_FORM_FIELDS, max_part_size=MULTIPART_OVERHEAD) as form:
        file = form.get("file")
        if not isinstance(file, StarletteUploadFile):
            raise ApiError(
                _UNPROCESSABLE,
                "send the file as a multipart/form-data part named 'file', with a filename",
                loc=("body", "file"),
                type="missing" if file is None else "value_error",
            )
        return await run_in_threadpool(_store_file, file, limit, setting, shown, creator)


def _store_file(file: StarletteUploadFile, limit: int, setting: str, shown: int, creator: str) -> FileOut:
    try:
        file_id, relative, size, sha256 = store_upload(file.file, file.filename, limit)
    except TooLarge:
        if setting == "job_upload_quota_bytes":
            raise _over_quota(shown) from None
        raise too_large(limit, setting, loc=("body", "file"), what="the file") from None
    out = FileOut(file_id=file_id, path=url_of(relative), bytes=size, sha256=sha256)
    JobStore(pooled()).add_file(out.model_copy(update={"path": relative}), created_by=creator)
    return out


@router.post(
    "",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "model": JobOut,
            "description": "You submitted a job with this idempotency_key from the same request: it is returned, "
            "nothing new.",
        },
        **error_responses(400, 409, 413, 415),
    },
    openapi_extra=json_request(JobIn),
)
async def submit_job(job: Annotated[JobIn, json_body(JobIn)], response: Response, who: Who) -> JobOut:
    """Queue a job; ``delayed_request`` claims queued jobs in arrival order and has the processor do them.

    ``files_to_process`` names files you pushed, or (as paths) your uploads and your jobs' reports (any file
    under the storage base with full access). Your ``idempotency_key`` with another body is a 409."""
    try:
        if job.callback_url is None and by_id_only(job):  # the common case: stored with concurrent submits
            out, created = await INTAKE.submit(job, who.creator, who.scope)
        else:  # a callback URL (its name resolved here, on the loop, with a deadline) or storage paths to check
            resolver = await callback_lookup([((), job)])
            ((out, created),) = await run_in_threadpool(_submit, [((), job)], who, resolver)
            if created:
                start.wake()
    except BadJobs as exc:
        raise ApiError(_UNPROCESSABLE, errors=exc.errors) from None
    except KeyReused as exc:
        raise _key_reused(exc, [()]) from None
    if not created:
        response.status_code = status.HTTP_200_OK
    return out


@router.post(
    "/batch",
    response_model=JobBatchOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        200: {
            "model": JobBatchOut,
            "description": "Every job's idempotency_key exists: they are returned, nothing new.",
        },
        **error_responses(400, 409, 413, 415),
    },
    openapi_extra=json_request(JobBatchIn),
)
async def submit_jobs(batch: Annotated[JobBatchIn, json_body(JobBatchIn)], response: Response, who: Who) -> JobBatchOut:
    """Queue up to 1000 jobs atomically: all are stored (in the order given), or (on any bad job) none, with a
    422 naming each bad field as ``["body", "jobs", <index>, <field>, …]``. A job whose ``idempotency_key``
    you used for the same request is that existing job, unchanged (``created`` false), as ``POST /courier/jobs``
    answers it; your key with another body is a 409 (nothing stored)."""
    requests: list[tuple[Loc, JobIn]] = [(("jobs", i), job) for i, job in enumerate(batch.jobs)]
    try:
        resolver = await callback_lookup(requests, batch=True)
    except BadJobs as exc:
        raise ApiError(_UNPROCESSABLE, errors=exc.errors) from None
    results = await run_in_threadpool(_submit, requests, who, resolver)
    created = [new for _, new in results]
    if any(created):
        start.wake()
    else:
        response.status_code = status.HTTP_200_OK
    return JobBatchOut(jobs=[job for job, _ in results], created=created)


@router.get("/{job_id}", response_model=JobOut, responses=error_responses(404))
def get_job(job_id: PathId, who: Who) -> JobOut:
    """The whole job document with every attempt (404 for a job that is not yours, unless you have full access)."""
    try:
        return JobStore(pooled()).get(job_id, who.scope)
    except JobNotFound:
        raise _not_found(job_id) from None


@router.get("", response_model=JobPage)
def list_jobs(
    status_filter: Annotated[Status | None, Query(alias="status")] = None,
    since: Rfc3339 | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    cursor: Cursor = None,
    *,
    who: Who,
) -> dict[str, Any]:
    """Your jobs (every job with full access), newest first, at most 200 a page, each without its files and
    params (``file_count`` and ``params_bytes`` instead: ``GET /courier/jobs/{id}`` has them); ``since`` keeps
    those created at or after it; ``next_cursor`` gives the next page."""
    try:
        jobs, next_cursor = JobStore(pooled()).page(status_filter, since, limit, cursor, who.scope)
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
def get_report(job_id: PathId, who: Who) -> StreamingResponse:
    """Stream the stored result of a ``success`` or ``downloaded`` job (409 before, or while not yet stored)."""
    try:
        current, relative = JobStore(pooled()).report_location(job_id, who.scope)
    except JobNotFound:
        raise _not_found(job_id) from None
    if current not in HAS_REPORT or not relative:
        why = "is not stored yet (delayed_request_download fetches it)" if current in HAS_REPORT else f"is {current}"
        raise ApiError(status.HTTP_409_CONFLICT, f"job {job_id}'s report {why}", loc=("path", "job_id"))
    path = full_path(relative)
    return StreamingResponse(_chunks(path), media_type=_media_type(relative), headers=DOWNLOAD_HEADERS)


@router.post("/{job_id}/cancel", response_model=JobOut, responses=error_responses(404, 409))
def cancel_job(job_id: PathId, who: Who) -> JobOut:
    """Cancel a job that is not final (and its upstream job, where the processor allows it): its status becomes
    ``cancelled`` and the record stays readable; 409 once final; 404 for a job that is not yours."""
    try:
        job, upstream_id = JobStore(pooled()).cancel(job_id, who.scope)
    except JobNotFound:
        raise _not_found(job_id) from None
    except JobNotCancellable as exc:
        raise ApiError(status.HTTP_409_CONFLICT, str(exc), loc=("path", "job_id")) from None
    from courier.jobs import outcomes

    took = (job.finished_at - job.created_at).total_seconds() if job.finished_at else None
    outcomes.record([Moved(job.job_id, Status.CANCELLED, seconds=took)])
    if upstream_id:
        from courier.jobs.processor_client import cancel_upstream

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
        fetch_urls.verify(None, job, path, expires, token)
        if path not in JobStore(pooled()).files_of(job):
            raise fetch_urls.BadSignature(f"job {job} does not name this file")
    except (fetch_urls.BadSignature, JobNotFound) as exc:
        why = f"no job {job}" if isinstance(exc, JobNotFound) else str(exc)
        raise ApiError(
            status.HTTP_403_FORBIDDEN, f"file URL refused: {why}", loc=("query", fetch_urls.SIG_PARAM)
        ) from None
    target = full_path(path)
    if not target.is_file():
        raise ApiError(status.HTTP_404_NOT_FOUND, "the signed file no longer exists", loc=("query", "path"))
    return StreamingResponse(_chunks(target), media_type=_media_type(path), headers=DOWNLOAD_HEADERS)
