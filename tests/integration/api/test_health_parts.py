"""``/courier/health``'s parts read from a real Courier database: dispatcher heartbeats, the roll-up lag, the
webhook secret (Airflow's DAG states are given: the e2e test asks a real Airflow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from courier.api import health
from courier.timers.store.dispatch import heartbeat

SECRET = "whsec_" + "A" * 40


def _healthy_dags(monkeypatch: pytest.MonkeyPatch, **paused: bool) -> None:
    names = [d for names in health.DOMAIN_DAGS.values() for d in names]
    monkeypatch.setattr(
        health,
        "_dags",
        lambda: {d: health.DagHealth(dag_id=d, paused=paused.get(d, False), last_run_state="success") for d in names},
    )


def test_live_dispatcher_and_fresh_rollup_are_healthy_then_each_problem_is_named(
    courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_SECRET", SECRET)
    _healthy_dags(monkeypatch)
    with psycopg.connect(courier_db, autocommit=True) as conn:
        heartbeat(conn, "dispatcher-a", 0.6)
        conn.execute("INSERT INTO courier_stats_watermark (id, rolled_up_to) VALUES (1, %s)", (datetime.now(UTC),))
    parts = health._domain_parts(health._database_health())
    assert {name: p.status for name, p in parts.items()} == dict.fromkeys(
        ("database", "timers", "jobs", "stats", "retention"), "healthy"
    )
    [dispatcher] = parts["timers"].dispatchers or []
    assert dispatcher.name == "dispatcher-a" and dispatcher.heartbeat_age < 0
    assert parts["stats"].rollup_lag is not None and parts["stats"].rollup_lag < 60

    # the dispatcher's heartbeat runs out, the roll-up falls behind, the secret is removed, a DAG is paused
    with psycopg.connect(courier_db, autocommit=True) as conn:
        conn.execute("UPDATE courier_stats_watermark SET rolled_up_to = %s", (datetime.now(UTC) - timedelta(hours=1),))
        conn.execute("UPDATE courier_timer_dispatchers SET alive_until = now() - interval '1 minute'")
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_SECRET", "")
    _healthy_dags(monkeypatch, webhook_timers=True)
    parts = health._domain_parts(health._database_health())
    assert parts["timers"].status == "unhealthy" and parts["timers"].accepts_work
    problems = " | ".join(parts["timers"].problems)
    assert "DAG webhook_timers is paused" in problems and "webhook_secret is not set" in problems
    assert "no timer dispatcher has a heartbeat" in problems
    assert parts["timers"].dispatchers and parts["timers"].dispatchers[0].heartbeat_age > 59
    assert parts["stats"].status == "unhealthy" and "roll-up lags" in parts["stats"].problems[0]
    assert parts["jobs"].status == parts["retention"].status == "healthy"
