"""What the ``stats_rollup`` DAG's tasks run: SQL in the Courier database, counts back (no data via XCom)."""

from __future__ import annotations

from typing import Any


def rollup() -> dict[str, Any]:
    """Roll up every closed minute with events not in its roll-up yet."""
    from courier.stats.store import StatsStore

    return StatsStore().rollup()


def prune() -> dict[str, Any]:
    """Drop raw minutes past ``[courier] stats_raw_retention`` that are rolled up; expire old roll-ups."""
    from courier.config import load_one
    from courier.stats.store import StatsStore

    return StatsStore().prune(float(load_one("stats_raw_retention")), float(load_one("stats_rollup_retention")))
