"""Courier's metrics on the wire: Airflow's StatsD client (configured as a deployment configures it, through
``[metrics]``) sends them to a real UDP listener on loopback; each line must be one the StatsD exporter's
mappings in helm-values.yaml turn into its labelled series. The dispatcher's metrics are measured from a real
dispatcher firing timers at a real receiver: counters aggregated, lateness samples bounded."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from courier import metrics
from courier.timers.dispatcher import Dispatcher, DispatcherSettings
from courier.timers.models import NewTimer, new_id
from courier.timers.store import TimerStore
from tests.helpers import StatsdListener
from tests.unit.test_monitoring import courier_mappings, map_name

pytestmark = pytest.mark.timeout(120)


def wait_for(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


KINDS = {"counter": "c", "gauge": "g", "timer": "ms"}


def test_every_metric_function_sends_lines_the_mappings_turn_into_courier_series(statsd: StatsdListener) -> None:
    metrics.timers_created(3)
    metrics.timer_overdue(2)
    metrics.dispatcher_heartbeat_age("triggerer-0.svc:42:abcd", 0.12)
    meter = metrics.TimerMeter()
    meter.fired("delivered", 12.0)
    meter.flush(force=True)
    metrics.jobs_submitted(4)
    metrics.jobs_status({"queued": 1, "processing": 0}, stuck=1)
    metrics.report_collected(2.5, polls=3)
    metrics.report_not_collected("timeout", polls=5)
    metrics.pages_fetched(7, 1)
    metrics.stats_ingested(9)
    metrics.stats_rollup_lag(75.0)
    metrics.spec_cell("passed")
    metrics.retention_deleted("courier_timers", 100)
    metrics.retention_run(ok=True)
    wait_for(lambda: len(statsd.lines) >= 20, 10, "the metric lines")
    time.sleep(0.2)

    produced: set[str] = set()
    for name, _value, kind in statsd.lines:
        assert name.startswith("airflow.courier."), name
        mapped = map_name(courier_mappings(), name)
        assert mapped is not None, f"{name}: no mapping takes it"
        mapping, _labels = mapped
        metric = next(m for m in metrics.METRICS if m.prometheus == mapping["name"])
        assert kind == KINDS[metric.kind], (name, kind)
        produced.add(metric.prometheus)
    assert produced == {m.prometheus for m in metrics.METRICS}  # every metric, each where it belongs

    assert statsd.named("airflow.courier.timers.created") == [(3.0, "c")]
    assert statsd.named("airflow.courier.timers.dispatcher.heartbeat_age.triggerer-0_svc_42_abcd") == [(0.12, "g")]
    assert statsd.named("airflow.courier.jobs.status.processing") == [(0.0, "g")]  # zeros are sent too
    assert statsd.named("airflow.courier.reports.wait") == [(2500.0, "ms")]
    assert statsd.named("airflow.courier.reports.collections.timeout") == [(1.0, "c")]
    assert statsd.named("airflow.courier.retention.deleted.courier_timers") == [(100.0, "c")]
    (last_success, _), *_ = statsd.named("airflow.courier.retention.last_success")
    assert abs(last_success - time.time()) < 60


def test_without_statsd_nothing_is_sent_and_nothing_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = StatsdListener()
    try:
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "False")
        monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
        monkeypatch.setattr(metrics, "_initialised", False)
        metrics.timers_created(1)
        metrics.jobs_status({"queued": 1}, stuck=0)
        time.sleep(0.3)
        assert listener.lines == []
    finally:
        listener.close()


def test_the_meter_bounds_lateness_samples_and_keeps_min_and_max() -> None:
    values = [float(i) for i in range(1000)]
    picked = metrics.spread(values, 16)
    assert len(picked) == 16 and picked[0] == 0.0 and picked[-1] == 999.0
    assert picked == sorted(picked)
    assert metrics.spread([3.0, 1.0], 16) == [3.0, 1.0]


async def test_a_dispatcher_sends_aggregated_counts_bounded_lateness_and_its_gauges(
    courier_db: str, receiver: str, webhook_secret: str, statsd: StatsdListener
) -> None:
    count = 600
    now = datetime.now(UTC)
    timers = [
        NewTimer(new_id(), receiver + "/hooks/", now + timedelta(seconds=1 + i / count), {"n": i}, {}, None, None)
        for i in range(count)
    ]
    await asyncio.to_thread(TimerStore(courier_db).create, timers)
    dispatcher = Dispatcher(courier_db, DispatcherSettings(secret=webhook_secret, allow_private=True), name="d.1:2")
    task = asyncio.create_task(dispatcher.run())
    fired = lambda: sum(v for v, _ in statsd.named("airflow.courier.timers.fired.delivered"))  # noqa: E731
    try:
        deadline = time.monotonic() + 60
        while fired() < count and time.monotonic() < deadline:  # sent while it runs, not only when it stops
            await asyncio.sleep(0.1)
        assert fired() == count, f"{fired()} of {count} firings sent while the dispatcher runs"
    finally:
        dispatcher.stop()
        await asyncio.wait_for(task, 30)
    await asyncio.sleep(0.3)
    assert dispatcher.stats["delivered"] == count

    assert sum(v for v, _ in statsd.named("airflow.courier.timers.created")) == count
    delivered = statsd.named("airflow.courier.timers.fired.delivered")
    assert sum(v for v, _ in delivered) == count  # every firing counted, in few packets
    assert len(delivered) <= 10, f"{len(delivered)} counter lines for {count} timers: not aggregated"
    lateness = statsd.named("airflow.courier.timers.lateness")
    assert 0 < len(lateness) <= 16 * len(delivered), len(lateness)
    assert all(0 <= v < 5000 for v, _ in lateness), lateness  # ms after the due time, on a quiet loopback
    ages = statsd.named("airflow.courier.timers.dispatcher.heartbeat_age.d_1_2")
    # a live dispatcher beats every 0.15 s; a loaded machine may delay one beat (the age says so), not all
    assert ages and all(0 <= v < 5.0 for v, _ in ages) and min(v for v, _ in ages) < 0.5, ages
    assert statsd.named("airflow.courier.timers.overdue") and all(
        v == 0 for v, _ in statsd.named("airflow.courier.timers.overdue")
    )
