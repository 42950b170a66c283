"""One spec worker: claim the next cell, run it under a renewed lease, record the result, until none is open.

This is the one function behind both execution modes: the ``local`` task calls :func:`run_worker` and the
``kubernetes`` pod runs ``courier specs work``, which calls it too. A worker does not stop while other
workers still hold cells: a cell whose worker dies comes back when its lease runs out, and someone must be
there to take it.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from courier.specs.models import Claim
from courier.specs.runner import run_cell
from courier.specs.store import SpecQueue

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0
IDLE_POLL_SECONDS = 0.5


@dataclass
class WorkerResult:
    worker: str
    cells: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "worker": self.worker,
            "cells": self.cells,
            "statuses": dict(self.statuses),
            "refused": self.refused,
            "seconds": round(self.seconds, 3),
        }


def worker_name(label: str = "") -> str:
    """Return a name unique to this process (host, pid, random), used as the lease owner."""
    suffix = f"-{label}" if label else ""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}{suffix}"


class _LeaseKeeper(threading.Thread):
    """Renew a claim's lease every third of its length; set ``lost`` when the worker no longer holds it."""

    def __init__(self, queue: SpecQueue, claim: Claim, lease_seconds: float) -> None:
        super().__init__(name=f"lease-{claim.key}", daemon=True)
        self.queue, self.claim, self.lease_seconds = queue, claim, lease_seconds
        self.lost = threading.Event()
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.lease_seconds / 3):
            try:
                if not self.queue.renew(self.claim, self.lease_seconds):
                    log.warning("Lost the lease of %s (attempt %d): stopping it", self.claim.name, self.claim.attempt)
                    self.lost.set()
                    return
            except Exception:  # a passing database fault: try again; the lease still runs meanwhile
                log.exception("Renewing the lease of %s failed", self.claim.name)


def run_worker(
    run_id: str,
    *,
    base_url: str | None = None,
    label: str = "",
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    storage_base: str | None = None,
    queue: SpecQueue | None = None,
    max_cells: int | None = None,
) -> WorkerResult:
    """Drain the queue of ``run_id``; return what this worker did.

    :param run_id: the spec run (the DAG run id).
    :param base_url: ``COURIER_SPEC_BASE_URL`` for the cells (default: the one the plan stored).
    :param label: added to the worker's name (e.g. ``w3``).
    :param lease_seconds: how long a claim lasts without renewal (renewed every third of it).
    :param storage_base: override ``[courier] storage_base`` for the artifacts.
    :param queue: the queue (default: the Courier database).
    :param max_cells: stop after this many cells (tests).
    """
    from courier.specs.report import upload_artifacts

    queue = queue or SpecQueue()
    run = queue.get_run(run_id)
    if run is None:
        raise LookupError(f"spec run {run_id!r} was not planned")
    if base_url is None:
        base_url = str(run["base_url"])
    name = worker_name(label)
    result = WorkerResult(name)
    began = time.monotonic()
    log.info("Worker %s draining spec run %s", name, run_id)
    while max_cells is None or result.cells < max_cells:
        claim = queue.claim(run_id, name, lease_seconds)
        if claim is None:
            if queue.open_cells(run_id) == 0:
                break
            time.sleep(IDLE_POLL_SECONDS)  # others hold cells that may come back (retry or lost lease)
            continue
        keeper = _LeaseKeeper(queue, claim, lease_seconds)
        keeper.start()
        scratch = Path(tempfile.mkdtemp(prefix="courier-spec-"))
        try:
            outcome = run_cell(claim, base_url, scratch / "artifacts", stop=keeper.lost)
        finally:
            keeper.done.set()
            keeper.join()
        try:
            status = queue.finish(claim, outcome)
            if status is None:
                result.refused += 1
                log.warning("Result of %s attempt %d refused: another worker holds it now", claim.name, claim.attempt)
                continue
            upload_artifacts(run_id, claim, scratch / "artifacts", storage_base)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        result.cells += 1
        result.statuses[outcome.status] = result.statuses.get(outcome.status, 0) + 1
        log.info(
            "%s attempt %d: %s in %.1fs%s -> %s",
            claim.name,
            claim.attempt,
            outcome.status,
            outcome.duration_ms / 1000,
            f" ({outcome.reason})" if outcome.reason else "",
            status,
        )
    result.seconds = time.monotonic() - began
    log.info("Worker %s done: %d cell attempt(s) %s in %.1fs", name, result.cells, result.statuses, result.seconds)
    return result
