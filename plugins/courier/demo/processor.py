"""Demo processor for delayed requests: reads the job's files from their URLs and computes a small CSV.

Contract (what Courier's ``delayed_request`` must handle):

- ``POST /jobs`` ``{"files": [url, ...], "params": {...}}`` → 202 ``{"id": "..."}`` (the id field name is
  configurable: ``id``, ``job_id`` or ``jobId``);
- ``GET /jobs/{id}`` → ``{"status": "queued"|"running"|"done"|"failed", "result_url": "/results/{id}",
  "error": ...}``; unknown ids 404;
- ``GET /results/{id}`` → the CSV (``file,bytes,lines,sha256`` per file); ``DELETE /jobs/{id}`` cancels.

A job takes ``params.delay_seconds`` (default: the configured ``delay``). ``params.fail_times`` /
``params.hang_times`` make the first N submissions of the same ``params.key`` fail / never finish;
``params.fail`` / ``params.hang`` always do. Test control under ``/_demo/processor``: ``POST config``,
``GET stats``, ``POST reset``.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import itertools
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import yarl
from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

router = APIRouter(tags=["demo: processor"])


class ProcessorConfig(BaseModel):
    delay: float = 5.0
    id_field: Literal["id", "job_id", "jobId"] = "id"
    done_word: str = "done"


class Submit(BaseModel):
    files: list[str]
    params: dict[str, Any] = {}


@dataclass
class _Job:
    id: str
    key: str
    status: str = "queued"
    error: str | None = None
    result: bytes | None = None


@dataclass
class _State:
    config: ProcessorConfig = field(default_factory=ProcessorConfig)
    jobs: dict[str, _Job] = field(default_factory=dict)
    submits: dict[str, int] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    running: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


STATE = _State()


def reset() -> None:
    for task in STATE.tasks:
        task.cancel()
    STATE.__init__()  # type: ignore[misc]


async def _csv(files: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "bytes", "lines", "sha256"])
    # aiohttp, not httpx: an httpx.AsyncClient per job costs tens of milliseconds of CPU (its SSL context), and
    # one shared httpx client still spent most of the processor's CPU in its pool with 1000 jobs in flight
    # (py-spy, bench/jobs.py); an aiohttp session costs microseconds
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        for url in files:
            async with http.get(yarl.URL(url, encoded=True)) as response:  # as given (presigned); redirects followed
                response.raise_for_status()
                data = await response.read()
                signed_path = response.url.query.get("path")  # Courier's signed route names the file in the query
            name = (signed_path or url.split("?", 1)[0]).rsplit("/", 1)[-1]
            writer.writerow([name, len(data), data.count(b"\n"), hashlib.sha256(data).hexdigest()])
    return out.getvalue().encode()


async def _work(job: _Job, body: Submit, nth: int) -> None:
    params = body.params
    job.status = "running"
    await asyncio.sleep(float(params.get("delay_seconds", STATE.config.delay)))
    if params.get("hang") or nth <= int(params.get("hang_times", 0)):
        await asyncio.Event().wait()  # never finishes (until cancelled)
    if params.get("fail") or nth <= int(params.get("fail_times", 0)):
        job.status, job.error = "failed", f"demo failure (submission {nth} of key {job.key})"
        return
    try:
        job.result = await _csv(body.files)
    except Exception as exc:
        job.status, job.error = "failed", f"could not read the files: {exc}"
        return
    job.status = STATE.config.done_word


@router.post("/jobs", status_code=202)
async def submit(body: Submit) -> dict[str, str]:
    key = str(body.params.get("key") or json.dumps(body.files))
    nth = STATE.submits[key] = STATE.submits.get(key, 0) + 1
    job = _Job(f"up-{next(STATE.ids)}", key)
    STATE.jobs[job.id] = job
    task = asyncio.create_task(_work(job, body, nth))
    STATE.tasks.add(task)
    STATE.running[job.id] = task
    task.add_done_callback(STATE.tasks.discard)
    return {STATE.config.id_field: job.id}


@router.get("/jobs/{job_id}", response_model=None)
async def job_status(job_id: str) -> dict[str, Any] | JSONResponse:
    job = STATE.jobs.get(job_id)
    if job is None:
        return JSONResponse({"error": "unknown job"}, status_code=404)
    answer: dict[str, Any] = {"status": job.status}
    if job.result is not None:
        answer["result_url"] = f"/results/{job_id}"
    if job.error:
        answer["error"] = job.error
    return answer


@router.get("/results/{job_id}", response_model=None)
async def result(job_id: str) -> Response:
    job = STATE.jobs.get(job_id)
    if job is None or job.result is None:
        return PlainTextResponse("no result", status_code=404)
    return Response(job.result, media_type="text/csv")


@router.delete("/jobs/{job_id}", status_code=204, response_model=None)
async def cancel(job_id: str) -> Response:
    job = STATE.jobs.get(job_id)
    if job is None:
        return PlainTextResponse("unknown job", status_code=404)
    task = STATE.running.pop(job_id, None)
    if task is not None:
        task.cancel()
    job.status, job.error = "failed", "cancelled"
    return Response(status_code=204)


@router.post("/_demo/processor/config")
async def configure(config: dict[str, Any]) -> dict[str, Any]:
    STATE.config = ProcessorConfig(**{**STATE.config.model_dump(), **config})
    return STATE.config.model_dump()


@router.get("/_demo/processor/stats")
async def stats() -> dict[str, Any]:
    counts: dict[str, int] = {}
    for job in STATE.jobs.values():
        counts[job.status] = counts.get(job.status, 0) + 1
    return {"submits": dict(STATE.submits), "statuses": counts, "jobs": len(STATE.jobs)}


@router.post("/_demo/processor/reset")
async def reset_route() -> dict[str, str]:
    reset()
    return {"status": "reset"}
