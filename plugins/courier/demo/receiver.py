"""Demo webhook receiver: where the demo's timers land (``POST /hooks/<anything><timer id>``).

It checks the Standard Webhooks signature (what a real receiver must do) and tells where each webhook comes
from by which secret signed it: the job-event secret derived from ``[courier] webhook_secret`` for Courier's
job events, ``webhook_secret`` itself for timers (:func:`courier.webhooks.signing.origin`, docs/timers.md). A
request to a ``/hooks/jobs/...`` path must be a job event: a timer with a job-shaped body is refused there.
It drops repeats by ``webhook-id`` (the at-least-once contract), and logs how late each webhook
arrived against its ``scheduled_for``. Test control under ``/_demo/webhooks``: ``GET`` (what arrived),
``POST config`` (fail the first N attempts per timer with a status, answer slowly), ``POST reset``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from courier.webhooks.signing import SignatureError, origin

log = logging.getLogger("uvicorn.error")
JOBS_PATH = "jobs/"  # the demo's job callbacks go to /hooks/jobs/
router = APIRouter(tags=["demo: webhooks"])


class ReceiverConfig(BaseModel):
    fail_first: int = 0  # answer fail_status to the first N attempts of every timer
    fail_status: int = 503
    retry_after: int | None = None
    delay: float = 0.0  # seconds to wait before answering


@dataclass
class ReceiverState:
    config: ReceiverConfig = field(default_factory=ReceiverConfig)
    arrivals: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    secret: str | None = None


STATE = ReceiverState()


def _secret() -> str:
    if STATE.secret is None:
        from courier.config import load

        STATE.secret = load().webhook_secret
    return STATE.secret


def reset() -> None:
    secret = STATE.secret
    STATE.__init__()  # type: ignore[misc]
    STATE.secret = secret


@router.post("/hooks/{path:path}")
async def receive(path: str, request: Request) -> Response:
    arrived = time.time()
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    webhook_id = headers.get("webhook-id", "")
    try:
        sender = origin(_secret(), headers, body)
        if path.startswith(JOBS_PATH) and sender != "job-event":
            raise SignatureError("not a Courier job event: signed with webhook_secret (a timer), not the job-event key")
    except SignatureError as exc:
        log.warning("webhook %s to /hooks/%s REJECTED: %s", webhook_id, path, exc)
        return JSONResponse({"detail": str(exc)}, status_code=401)
    attempt = STATE.attempts.get(webhook_id, 0) + 1
    STATE.attempts[webhook_id] = attempt
    cfg = STATE.config
    if cfg.delay:
        import asyncio

        await asyncio.sleep(cfg.delay)
    if attempt <= cfg.fail_first:
        extra = {"retry-after": str(cfg.retry_after)} if cfg.retry_after is not None else {}
        return JSONResponse({"detail": f"failing attempt {attempt} on purpose"}, cfg.fail_status, headers=extra)
    message = json.loads(body)
    lateness_ms = (arrived - datetime.fromisoformat(message["scheduled_for"]).timestamp()) * 1000
    repeat = any(a["webhook_id"] == webhook_id for a in STATE.arrivals)
    STATE.arrivals.append(
        {
            "webhook_id": webhook_id,
            "path": path,
            "arrived": arrived,
            "scheduled_for": message["scheduled_for"],
            "lateness_ms": round(lateness_ms, 3),
            "attempt": attempt,
            "origin": sender,
            "repeat": repeat,
            "payload": message.get("payload"),
        }
    )
    log.info(
        "webhook %s arrived %.1f ms %s its time (signature ok%s)",
        webhook_id, abs(lateness_ms), "after" if lateness_ms >= 0 else "BEFORE", ", repeat dropped" if repeat else "",
    )  # fmt: skip
    return JSONResponse({"received": webhook_id, "repeat": repeat})


@router.get("/_demo/webhooks")
def arrivals() -> dict[str, Any]:
    unique = {a["webhook_id"] for a in STATE.arrivals}
    return {"count": len(STATE.arrivals), "unique": len(unique), "arrivals": STATE.arrivals[-1000:]}


@router.post("/_demo/webhooks/config")
def configure(change: dict[str, Any]) -> dict[str, Any]:
    STATE.config = ReceiverConfig(**{**STATE.config.model_dump(), **change})
    return STATE.config.model_dump()


@router.post("/_demo/webhooks/reset")
def reset_route() -> dict[str, str]:
    reset()
    return {"status": "reset"}
