"""``run_batch``: fetch one batch of pages concurrently and write its part file and result.

This is the only code that fetches pages. In ``local`` mode the ``fetch_batch`` task calls it in the worker;
in ``kubernetes`` mode a pod runs ``courier pages fetch-batch --batch <url> --out <url>``, which calls it too.

Pages complete in any order; each body is spooled to a local temporary file as it arrives, so memory holds
one page at a time, and the part is then written in page order, its columns the union of the batch's
columns in first-seen order. A page that still fails after its retries is recorded in the result (the merge
decides whether the run can live with it); only storage or input errors fail the batch itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from courier import metrics
from courier.pages.batching import BatchSpec, result_url
from courier.pages.hook import PagedApiHook, PageOutcome
from courier.pages.records import RecordsError, columns_of, csv_writer, records_at, union_columns, write_records
from courier.pages.storing import path_of, read_json, write_json
from courier.storage import open_write

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Spooled:
    offset: int
    length: int
    columns: list[str]


def _records(outcome: PageOutcome, records_key: str) -> list[dict[str, Any]]:
    """Return the records of a fetched page, or raise saying why the page is unusable."""
    if outcome.response is None:
        raise RecordsError(outcome.error or "no response")
    if not outcome.response.is_success:
        raise RecordsError(f"HTTP {outcome.response.status_code}")
    try:
        body = outcome.response.json()
    except ValueError as exc:
        raise RecordsError(f"the body is not JSON: {exc}") from exc
    return records_at(body, records_key)


async def _fetch(
    spec: BatchSpec, spool: IO[bytes], statuses: Counter[int]
) -> tuple[dict[int, _Spooled], list[dict[str, Any]], float]:
    """Fetch every page of ``spec``; spool good bodies; return (spooled pages, failed pages, slowest page s)."""
    hook = PagedApiHook(spec.fetch.conn_id, spec.fetch.retry_policy())
    spooled: dict[int, _Spooled] = {}
    failed: list[dict[str, Any]] = []
    slowest = 0.0
    async for outcome in hook.afetch_pages(spec.pages, spec.fetch.concurrency, statuses):
        slowest = max(slowest, outcome.seconds)
        try:
            records = _records(outcome, spec.fetch.records_key)
        except RecordsError as exc:
            log.warning("page %d (%s) failed: %s", outcome.ref.page, outcome.ref.url, exc)
            failed.append({"page": outcome.ref.page, "url": outcome.ref.url, "error": str(exc)})
            continue
        assert outcome.response is not None
        body = outcome.response.content
        spooled[outcome.ref.page] = _Spooled(spool.tell(), len(body), columns_of(records))
        spool.write(body)
    failed.sort(key=lambda f: int(f["page"]))
    return spooled, failed, slowest


def _write_part(spec: BatchSpec, spooled: dict[int, _Spooled], spool: IO[bytes], out_url: str) -> tuple[int, list[str]]:
    """Write the spooled pages, in page order, as one CSV; return (rows, columns)."""
    order = [ref.page for ref in spec.pages if ref.page in spooled]
    columns = union_columns(spooled[page].columns for page in order)
    rows = 0
    with open_write(path_of(out_url)) as stream:
        writer = csv_writer(stream, columns)
        for page in order:
            entry = spooled[page]
            spool.seek(entry.offset)
            rows += write_records(writer, records_at(json.loads(spool.read(entry.length)), spec.fetch.records_key))
    return rows, columns


def run_batch(batch_url: str, out_url: str) -> dict[str, Any]:
    """Fetch the batch described at ``batch_url``; write its part to ``out_url`` and its result beside it.

    Return the result document (also written to :func:`~courier.pages.batching.result_url` of ``out_url``).
    """
    started_at = datetime.now(UTC)
    began = time.monotonic()
    spec = BatchSpec.from_json(read_json(path_of(batch_url)))
    log.info("%s: fetching %d pages, %d at a time", spec.label, len(spec.pages), spec.fetch.concurrency)
    statuses: Counter[int] = Counter()
    with tempfile.TemporaryFile(prefix="courier-pages-") as spool:
        spooled, failed, slowest = asyncio.run(_fetch(spec, spool, statuses))
        metrics.pages_fetched(len(spooled), len(failed))
        fetched = time.monotonic()
        rows, columns = _write_part(spec, spooled, spool, out_url)
    finished = time.monotonic()
    result: dict[str, Any] = {
        "plan_id": spec.plan_id,
        "index": spec.index,
        "label": spec.label,
        "part": out_url,
        "pages": len(spec.pages),
        "pages_ok": len(spooled),
        "rows": rows,
        "columns": columns,
        "failed_pages": failed,
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "seconds": round(finished - began, 3),
        "fetch_seconds": round(fetched - began, 3),
        "write_seconds": round(finished - fetched, 3),
        "slowest_page_seconds": round(slowest, 3),
    }
    write_json(path_of(result_url(out_url)), result)  # written last: a result names a complete part
    log.info(
        "%s: %d/%d pages, %d rows in %.2fs (fetch %.2fs, write %.2fs), %d failed",
        spec.label,
        len(spooled),
        len(spec.pages),
        rows,
        finished - began,
        fetched - began,
        finished - fetched,
        len(failed),
    )
    return result
