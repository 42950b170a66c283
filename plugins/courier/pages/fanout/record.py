"""A fan-out's figures sent to the stats domain (pages fetched and failed, the run's seconds), best effort."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def record_fanout(manifest: Mapping[str, Any]) -> None:
    """The fan-out's pages fetched, pages/s, failed pages and duration as Courier stats (best effort: never
    fails the merge; one write per fan-out)."""
    from courier.stats import emit

    tags = {"dag_id": str(manifest["dag_id"]), "status": str(manifest["status"])}
    timings = manifest["timings"]
    fetch_seconds = float(timings["fetch_wall_seconds"])
    events = [
        emit.event("courier.pages.fetched", int(manifest["pages_ok"]), "counter", tags),
        emit.event("courier.pages.failed", len(manifest["failed_pages"]), "counter", tags),
        emit.event("courier.pages.fanout_seconds", float(timings["total_seconds"]), "timer", tags),
    ]
    if fetch_seconds > 0:
        events.append(emit.event("courier.pages.per_second", int(manifest["pages_ok"]) / fetch_seconds, "gauge", tags))
    emit.record(events)
