"""Demo report API: a slow report server with a periodic heavy-load phase.

Contract (what Courier's report collector must handle):

- ``POST /request_report`` (``GET`` too) returns ``{"ticket_id": "..."}``.
- ``GET /get_report/{ticket_id}``: the CSV once ready; before that a body containing "report is not
  ready" (status 202 by default); during heavy load 503 with ``Retry-After``; an unknown ticket is 404.

Heavy load toggles every ``load_period`` seconds (``heavy_load="auto"``), or is forced ``on``/``off`` for
tests. A report is ready ``generation_delay`` seconds after its request and never while the load lasts.
Test control lives under ``/_demo/reports``: ``POST config``, ``GET stats``, ``POST reset``.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

NOT_READY = "report is not ready"
router = APIRouter(tags=["demo: reports"])


class ReportConfig(BaseModel):
    """Behaviour of the demo report server (all fields optional in ``POST /_demo/reports/config``)."""

    load_period: float = 120.0
    heavy_load: Literal["auto", "on", "off"] = "auto"
    generation_delay: float = 5.0
    generation_jitter: float = 0.0  # extra delay spread evenly over tickets (deterministic), for benchmarks
    not_ready_status: int = 202
    load_status: int = 503  # status while under heavy load: 503 (body says not ready) or 429
    retry_after: int = 10
    rows: int = 20
    malformed: bool = False
    fail_status: int | None = None  # answer every get_report with this status (e.g. 500)


@dataclass
class Ticket:
    ticket_id: str
    requested_at: float
    delay: float
    ready_at: float | None = None  # when the report became servable (set at first serve)
    served: int = 0


@dataclass
class ReportState:
    config: ReportConfig = field(default_factory=ReportConfig)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    requests: int = 0
    polls: int = 0
    load_started: float = field(default_factory=time.time)

    def heavy(self, now: float) -> bool:
        mode = self.config.heavy_load
        if mode != "auto":
            return mode == "on"
        return int((now - self.load_started) / self.config.load_period) % 2 == 1


STATE = ReportState()


def reset() -> None:
    """Forget tickets and counters, restore the default configuration."""
    global STATE
    STATE = ReportState()


def report_csv(ticket_id: str, rows: int, malformed: bool = False) -> str:
    """The deterministic CSV of a ticket (a ragged row when ``malformed``)."""
    seed = int(hashlib.sha256(ticket_id.encode()).hexdigest()[:8], 16)
    lines = ["ticket,row,value,label"]
    for n in range(rows):
        lines.append(f"{ticket_id},{n},{(seed + n * 7919) % 100000},item-{n}")
    if malformed:
        lines.append(f"{ticket_id},{rows},only-three-fields")
    return "\n".join(lines) + "\n"


@router.api_route("/request_report", methods=["GET", "POST"])
def request_report() -> dict[str, str]:
    STATE.requests += 1
    number = next(STATE.counter)
    ticket_id = f"T{number:06d}"
    spread = (number * 0.6180339887) % 1.0  # golden-ratio steps cover [0, 1) evenly
    delay = STATE.config.generation_delay + spread * STATE.config.generation_jitter
    STATE.tickets[ticket_id] = Ticket(ticket_id, time.time(), delay)
    return {"ticket_id": ticket_id}


@router.get("/get_report/{ticket_id}")
def get_report(ticket_id: str) -> Response:
    STATE.polls += 1
    cfg = STATE.config
    ticket = STATE.tickets.get(ticket_id)
    if ticket is None:
        return JSONResponse({"error": f"unknown ticket {ticket_id}"}, status_code=404)
    if cfg.fail_status:
        return PlainTextResponse("internal error", status_code=cfg.fail_status)
    now = time.time()
    if STATE.heavy(now):
        body = f"{NOT_READY}: server under heavy load" if cfg.load_status != 429 else "too many requests"
        return PlainTextResponse(body, status_code=cfg.load_status, headers={"Retry-After": str(cfg.retry_after)})
    if now < ticket.requested_at + ticket.delay:
        return PlainTextResponse(f"{NOT_READY}, try again later", status_code=cfg.not_ready_status)
    if ticket.ready_at is None:  # without heavy load, ready exactly when generation finished
        ticket.ready_at = ticket.requested_at + ticket.delay
    ticket.served += 1
    return PlainTextResponse(report_csv(ticket_id, cfg.rows, cfg.malformed), media_type="text/csv")


@router.post("/_demo/reports/config")
def configure(changes: dict[str, Any]) -> dict[str, Any]:
    STATE.config = STATE.config.model_copy(update=ReportConfig(**{**STATE.config.model_dump(), **changes}).model_dump())
    return STATE.config.model_dump()


@router.get("/_demo/reports/stats")
def stats(request: Request) -> dict[str, Any]:
    now = time.time()
    return {
        "requests": STATE.requests,
        "polls": STATE.polls,
        "heavy_load": STATE.heavy(now),
        "config": STATE.config.model_dump(),
        "tickets": {t.ticket_id: asdict(t) for t in STATE.tickets.values()},
    }


@router.post("/_demo/reports/reset")
def reset_route() -> dict[str, str]:
    reset()
    return {"status": "reset"}
