"""The demo paged API: ``GET /pages`` lists page links, each link returns ``{"data": [...]}``; ``GET /data`` is
a plain snapshot endpoint (JSON or CSV).

Everything a test or a demo user wants to vary is a query parameter of ``GET /pages`` (page count, rows per
page, per-page latency, seed, link style, keys, injected failures), so concurrent runs never disturb each
other. The links a listing returns carry their own parameters (and a listing id that scopes the failure
counters), so a page is deterministic and self-describing. ``POST /_demo/pages/config`` changes the
defaults server-wide (what ``make demo`` users reach from a shell); ``GET /_demo/pages/stats`` returns what
was served; ``POST /_demo/pages/reset`` forgets both.

Rows are a pure function of ``(seed, page, row)`` (:func:`page_records`, :func:`data_records`), so tests
check content, not only counts.
"""

from __future__ import annotations

import asyncio
import csv
import io
import threading
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

router = APIRouter()

MAX_PAGES = 100_000
MAX_ROWS = 10_000
FLAG_EVERY = 10  # pages 9, 19, 29, ... carry an extra column, so merges must take the union of columns


@dataclass(frozen=True)
class Defaults:
    """Server-wide defaults; every field can be overridden per listing by the query parameter of the same name."""

    pages: int = 1000
    rows: int = 100
    latency_ms: float = 50.0
    seed: int = 1
    links: str = "relative"  # relative | absolute | mixed
    links_key: str = "links"
    records_key: str = "data"
    fail_429: str = ""  # comma-separated page numbers answering 429 (with Retry-After) ...
    fail_500: str = ""  # ... or 500, for their first `fail_times` requests
    fail_times: int = 1
    retry_after: float = 1.0
    broken: str = ""  # pages that always answer 500
    data_rows: int = 50  # GET /data
    data_seed: int = 1


@dataclass
class _State:
    defaults: Defaults = field(default_factory=Defaults)
    listings: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    data_requests: int = 0
    attempts: Counter[tuple[str, int]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


_state = _State()


def reset() -> None:
    """Forget counters and restore the defaults."""
    global _state
    _state = _State()


def _value(page: int, row: int, seed: int) -> int:
    """A cheap deterministic pseudo-random number (Knuth's multiplicative hash)."""
    return ((page * 1_000_003 + row) * 2_654_435_761 + seed * 97) % 1_000_003


def page_records(page: int, rows: int, seed: int) -> list[dict[str, Any]]:
    """Return the records of ``page`` (0-based) exactly as the demo serves them."""
    records: list[dict[str, Any]] = []
    for row in range(rows):
        value = _value(page, row, seed)
        record: dict[str, Any] = {
            "id": page * rows + row,
            "page": page,
            "row": row,
            "value": value,
            "name": f"item-{seed}-{page}-{row}",
        }
        if page % FLAG_EVERY == FLAG_EVERY - 1:
            record["flag"] = value % 2 == 0
        records.append(record)
    return records


def data_records(rows: int, seed: int) -> list[dict[str, Any]]:
    """Return the records ``GET /data`` serves for ``rows`` and ``seed``."""
    return [
        {"id": i, "name": f"snapshot-{seed}-{i}", "value": _value(-1, i, seed), "ok": i % 3 != 0} for i in range(rows)
    ]


def _pages_set(text: str) -> set[int]:
    try:
        return {int(p) for p in text.split(",") if p.strip()}
    except ValueError as exc:
        raise HTTPException(422, f"page lists are comma-separated integers, got {text!r}") from exc


def _listing_settings(request: Request) -> Defaults:
    """Defaults overridden by the listing's query parameters (unknown parameters are refused)."""
    known = {f.name: f.type for f in fields(Defaults)}
    given = dict(request.query_params)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise HTTPException(422, f"unknown parameter(s) {unknown}; accepted: {sorted(known)}")
    current = _state.defaults
    try:
        values = {k: type(getattr(current, k))(v) for k, v in given.items()}
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    settings = replace(current, **values)
    if not 0 <= settings.pages <= MAX_PAGES or not 0 <= settings.rows <= MAX_ROWS:
        raise HTTPException(422, f"pages must be in 0..{MAX_PAGES} and rows in 0..{MAX_ROWS}")
    if settings.links not in ("relative", "absolute", "mixed"):
        raise HTTPException(422, "links must be relative, absolute or mixed")
    return settings


@router.get("/pages")
def list_pages(request: Request) -> JSONResponse:
    """List the page links of one listing (its own id scopes failure counters)."""
    settings = _listing_settings(request)
    listing = uuid.uuid4().hex[:12]
    fail_429, fail_500, broken = (_pages_set(s) for s in (settings.fail_429, settings.fail_500, settings.broken))
    common = {
        "lid": listing,
        "rows": settings.rows,
        "seed": settings.seed,
        "latency_ms": settings.latency_ms,
        "key": settings.records_key,
    }
    base = str(request.base_url).rstrip("/")
    links: list[str] = []
    for page in range(settings.pages):
        query = dict(common)
        if page in broken:
            query["fail"] = "500"
            query["times"] = -1
        elif page in fail_429 or page in fail_500:
            query["fail"] = "429" if page in fail_429 else "500"
            query["times"] = settings.fail_times
            query["retry_after"] = settings.retry_after
        path = f"/pages/p/{page}?{urlencode(query)}"
        absolute = settings.links == "absolute" or (settings.links == "mixed" and page % 2 == 1)
        links.append(base + path if absolute else path)
    with _state.lock:
        _state.listings += 1
    return JSONResponse({settings.links_key: links, "total": settings.pages, "listing": listing})


@router.get("/pages/p/{page}")
async def get_page(
    page: int,
    lid: str,
    rows: int = Query(ge=0, le=MAX_ROWS),
    seed: int = 1,
    latency_ms: float = Query(0.0, ge=0, le=60_000),
    key: str = "data",
    fail: str = "",
    times: int = 0,
    retry_after: float = 1.0,
) -> Response:
    """Serve one page after ``latency_ms``; fail its first ``times`` requests (``times=-1``: always) when asked."""
    await asyncio.sleep(latency_ms / 1000)
    with _state.lock:
        _state.attempts[(lid, page)] += 1
        attempt = _state.attempts[(lid, page)]
        failing = fail in ("429", "500") and (times < 0 or attempt <= times)
        status = int(fail) if failing else 200
        _state.statuses[str(status)] += 1
    if status == 429:
        return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": f"{retry_after:g}"})
    if status == 500:
        return JSONResponse({"error": "injected failure"}, status_code=500)
    return JSONResponse({key: page_records(page, rows, seed), "page": page})


@router.get("/data")
def get_data(
    request: Request,
    rows: int | None = Query(None, ge=0, le=MAX_ROWS),
    seed: int | None = None,
    format: str | None = None,
) -> Response:
    """The snapshot endpoint: records as JSON under ``data`` (``?key=`` renames it) or CSV (``format=csv``, or
    no ``format`` and an ``Accept`` header naming ``text/csv`` first)."""
    with _state.lock:
        _state.data_requests += 1
    defaults = _state.defaults
    records = data_records(defaults.data_rows if rows is None else rows, defaults.data_seed if seed is None else seed)
    if format is None:
        format = "csv" if request.headers.get("accept", "").strip().startswith("text/csv") else "json"
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=["id", "name", "value", "ok"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "ok": str(r["ok"]).lower()} for r in records)
        return Response(buffer.getvalue(), media_type="text/csv")
    return JSONResponse({request.query_params.get("key", "data"): records, "count": len(records)})


@router.get("/_demo/pages/stats")
def stats() -> dict[str, Any]:
    """What was served: listings, page responses by status, retried pages, /data requests."""
    with _state.lock:
        retried = sorted({page for (_, page), n in _state.attempts.items() if n > 1})
        return {
            "listings": _state.listings,
            "page_requests": sum(_state.attempts.values()),
            "statuses": dict(_state.statuses),
            "retried_pages": retried,
            "data_requests": _state.data_requests,
            "defaults": asdict(_state.defaults),
        }


@router.post("/_demo/pages/config")
def configure(changes: dict[str, Any]) -> dict[str, Any]:
    """Change server-wide defaults (any :class:`Defaults` field); return them."""
    known = {f.name for f in fields(Defaults)}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise HTTPException(422, f"unknown setting(s) {unknown}; accepted: {sorted(known)}")
    with _state.lock:
        current = _state.defaults
        try:
            _state.defaults = replace(current, **{k: type(getattr(current, k))(v) for k, v in changes.items()})
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return asdict(_state.defaults)


@router.post("/_demo/pages/reset")
def reset_endpoint() -> dict[str, str]:
    """Forget counters and restore the defaults."""
    reset()
    return {"status": "reset"}
