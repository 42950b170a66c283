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


def gauges() -> dict[str, Any]:
    """The platform's periodic gauges (:mod:`courier.metrics`), once a minute after the roll-up whatever its
    outcome: the roll-up's lag (this DAG's own state) and the jobs per status and stuck (the jobs store's
    counts). A few cheap queries a minute, never one per scrape; returns what it sent."""
    from courier import metrics
    from courier.jobs.store import JobStore
    from courier.stats.store import StatsStore

    lag = StatsStore().lag_seconds()
    if lag is not None:
        metrics.stats_rollup_lag(lag)
    counts, stuck = JobStore().gauges()
    metrics.jobs_status(counts, stuck)
    return {"rollup_lag_seconds": lag, "jobs": counts, "jobs_stuck": stuck}
