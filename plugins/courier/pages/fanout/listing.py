"""The step before the batches: list the pages and plan the batches (the files under
:mod:`courier.pages.batching`'s layout)."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime

from courier.pages.batching import (
    BatchSpec,
    PageRef,
    PlanError,
    plan_batches,
    resolve_links,
)
from courier.pages.fanout.request import FanoutRequest, allows_other_hosts
from courier.pages.hook import PagedApiHook
from courier.pages.storing import path_of, write_json

log = logging.getLogger(__name__)


def list_and_plan(request: FanoutRequest, dag_id: str, run_id: str) -> list[dict[str, str]]:
    """List the page links, split them into batches and write one batch file each plus ``plan.json``.

    Return one ``{"batch_path", "out_path", "batch_label"}`` per batch: the kwargs of the mapped batch step.
    """
    from courier.config import load

    started_at = datetime.now(UTC)
    began = time.monotonic()
    layout = request.layout(dag_id, run_id)
    if load().execution_mode == "kubernetes" and layout.base.startswith("file://"):
        raise PlanError(
            f"execution_mode = kubernetes needs object storage the pods can reach (s3://...), not {layout.base}"
        )
    hook = PagedApiHook(request.fetch.conn_id, request.fetch.retry_policy())
    listing_url, links = hook.list_links(request.links_endpoint, request.links_key, request.query)
    resolved = resolve_links(
        listing_url, links, allow_other_hosts=allows_other_hosts(hook.settings), settings=hook.settings
    )
    listed = time.monotonic()
    ranges = plan_batches(len(resolved.urls), request.batch_size, request.max_batches)
    plan_id = uuid.uuid4().hex
    batches: list[dict[str, str]] = []
    for index, pages in enumerate(ranges):
        refs = [PageRef(p, resolved.urls[p]) for p in pages]
        spec = BatchSpec(index, len(ranges), refs, request.fetch, plan_id=plan_id)
        write_json(path_of(layout.batch(index)), spec.to_json())
        batches.append({"batch_path": layout.batch(index), "out_path": layout.part(index), "batch_label": spec.label})
    plan = {
        "plan_id": plan_id,
        "dag_id": dag_id,
        "run_id": run_id,
        "listing_url": listing_url,
        "links": len(resolved.urls),
        "duplicate_links": resolved.duplicates,
        "batch_size": max((len(r) for r in ranges), default=0),
        "fetch": {"concurrency": request.fetch.concurrency, "attempts": request.fetch.attempts},
        "batches": [{**b, "pages": len(r)} for b, r in zip(batches, ranges, strict=True)],
        "started_at": started_at.isoformat(),
        "list_seconds": round(listed - began, 3),
        "plan_seconds": round(time.monotonic() - listed, 3),
    }
    write_json(path_of(layout.plan), plan)
    log.info(
        "listed %d links (%d duplicates dropped) from %s; %d batch(es) of up to %d under %s",
        len(resolved.urls),
        resolved.duplicates,
        listing_url,
        len(batches),
        plan["batch_size"],
        layout.base,
    )
    return batches
