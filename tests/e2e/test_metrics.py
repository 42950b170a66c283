"""Courier's metrics through the real stack: every component sends Airflow's StatsD to a listener on loopback
(tests/e2e/conftest.py), and using Courier — creating and firing timers, submitting jobs, posting stats, a
``stats_rollup`` run — makes Courier's names arrive with sane values, each one the StatsD exporter's mappings
(helm-values.yaml) turn into its Prometheus series."""

from __future__ import annotations

import uuid

from courier import metrics
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.e2e.test_timers import _dispatcher_deferred, _wait
from tests.helpers import StatsdListener
from tests.unit.test_monitoring import courier_mappings, map_name


def _total(statsd: StatsdListener, name: str) -> float:
    return sum(v for v, _ in statsd.named(f"airflow.{name}"))


def _starting_with(statsd: StatsdListener, prefix: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for name, value, _kind in list(statsd.lines):
        if name.startswith(f"airflow.{prefix}"):
            out.setdefault(name.removeprefix(f"airflow.{prefix}"), []).append(value)
    return out


def test_using_courier_sends_its_metrics_to_statsd(stack: Stack, api: AirflowApi, statsd: StatsdListener) -> None:
    _wait(lambda: _dispatcher_deferred(api), 120, "the webhook_timers dispatcher to be deferred in the triggerer")
    created_before = _total(statsd, "courier.timers.created")
    fired_before = sum(sum(v) for v in _starting_with(statsd, "courier.timers.fired.").values())
    tag = uuid.uuid4().hex[:8]

    # timers: 20 due in 1..3 s, to the demo upstream's receiver
    body = {"timers": [{"url": stack.demo_url + "/hooks/", "delay_seconds": 1 + i * 0.1, "payload": {"t": tag}} for i in range(20)]}  # fmt: skip
    answer = api.request("POST", "/courier/timers/batch", json=body)
    assert answer.status_code == 201, answer.text
    # jobs: three over one uploaded file
    pushed = api.request("POST", "/courier/jobs/files", files={"file": ("m.csv", b"id,value\n1,10\n", "text/csv")})
    assert pushed.status_code == 201, pushed.text
    submitted_before = _total(statsd, "courier.jobs.submitted")
    for i in range(3):
        job = {"files_to_process": [pushed.json()["file_id"]], "params": {"key": f"{tag}-{i}"}}
        assert api.request("POST", "/courier/jobs", json=job).status_code == 202
    # stats: ten events
    ingested_before = _total(statsd, "courier.stats.ingested")
    events = [{"name": f"e2e.metrics.{tag}", "value": v, "type": "counter"} for v in range(10)]
    assert api.request("POST", "/courier/stats", json=events).status_code == 202

    _wait(lambda: _total(statsd, "courier.timers.created") - created_before >= 20, 30, "courier.timers.created")
    _wait(lambda: _total(statsd, "courier.jobs.submitted") - submitted_before >= 3, 30, "courier.jobs.submitted")
    _wait(lambda: _total(statsd, "courier.stats.ingested") - ingested_before >= 10, 30, "courier.stats.ingested")
    fired = lambda: sum(sum(v) for v in _starting_with(statsd, "courier.timers.fired.").values())  # noqa: E731
    _wait(lambda: fired() - fired_before >= 20, 60, "courier.timers.fired.<outcome> for the 20 timers")
    assert set(_starting_with(statsd, "courier.timers.fired.")) <= {"delivered", "retrying", "failed", "expired"}
    lateness = [v for v, kind in statsd.named("airflow.courier.timers.lateness")]
    assert lateness and all(0 <= v < 5000 for v in lateness), lateness  # ms past due

    ages = _starting_with(statsd, "courier.timers.dispatcher.heartbeat_age.")
    assert len(ages) >= 2, f"both dispatchers report their heartbeat age: {sorted(ages)}"
    recent = [values[-1] for values in ages.values()]
    assert min(recent) < 1.0, ages  # a live dispatcher beats every 0.15 s
    assert statsd.named("airflow.courier.timers.overdue"), "the dispatchers report overdue timers"

    # the periodic gauges: stats_rollup's gauges task
    run = api.wait_for_run("stats_rollup", api.trigger("stats_rollup"), timeout=240)
    assert run["state"] == "success", run
    _wait(lambda: statsd.named("airflow.courier.stats.rollup_lag"), 30, "courier.stats.rollup_lag")
    lag = statsd.named("airflow.courier.stats.rollup_lag")[-1][0]
    assert 0 <= lag < 3600, lag
    statuses = _starting_with(statsd, "courier.jobs.status.")
    assert {"queued", "processing", "success", "failed"} <= set(statuses), sorted(statuses)
    assert sum(values[-1] for values in statuses.values()) >= 3  # our three jobs, whatever their status now
    assert statsd.named("airflow.courier.jobs.stuck")

    # every Courier line that arrived is one the exporter maps to a Courier series
    for name, _value, _kind in list(statsd.lines):
        mapped = map_name(courier_mappings(), name)
        assert mapped is not None and mapped[0]["name"] in {m.prometheus for m in metrics.METRICS}, name


def test_each_domains_dags_send_their_metrics_from_the_task_that_does_the_work(
    stack: Stack, api: AirflowApi, statsd: StatsdListener
) -> None:
    """The report, page, spec and retention metrics are sent by the tasks that do the work, in the stack's
    worker processes: a fan-out run (pages fetched and failed), a spec matrix run (a cell count per outcome), a
    retention run (its outcome and time) and the scheduled ``report_collector`` (polls and collections)."""
    fetched_before, failed_before = _total(statsd, "courier.pages.fetched"), _total(statsd, "courier.pages.failed")
    cells_before = sum(sum(v) for v in _starting_with(statsd, "courier.specs.cells.").values())
    runs_before = _total(statsd, "courier.retention.runs.ok")
    polls_before = _total(statsd, "courier.reports.polls")
    fanout = api.trigger(
        "paginated_fanout", {"query": {"pages": 6, "rows": 2, "latency_ms": 5, "broken": "3"}, "page_attempts": 1}
    )
    specs = api.trigger("spec_matrix", {"workers": 2})
    retention = api.trigger("courier_retention")

    assert api.wait_for_run("courier_retention", retention, timeout=240)["state"] == "success"
    _wait(lambda: _total(statsd, "courier.retention.runs.ok") > runs_before, 30, "courier.retention.runs.ok")
    assert statsd.named("airflow.courier.retention.last_success")[-1][0] > 0

    api.wait_for_run("paginated_fanout", fanout, timeout=240)  # fails: page 3 is broken and tried once
    _wait(lambda: _total(statsd, "courier.pages.fetched") - fetched_before >= 5, 30, "courier.pages.fetched")
    _wait(lambda: _total(statsd, "courier.pages.failed") - failed_before >= 1, 30, "courier.pages.failed")

    assert api.wait_for_run("spec_matrix", specs, timeout=420)["state"] == "success"
    cells = lambda: sum(sum(v) for v in _starting_with(statsd, "courier.specs.cells.").values())  # noqa: E731
    _wait(lambda: cells() - cells_before >= 15, 30, "courier.specs.cells.<outcome> for the 15 cells")
    assert {"passed", "skipped"} <= set(_starting_with(statsd, "courier.specs.cells."))

    # report_collector runs every minute on this stack, against the demo upstream
    _wait(lambda: _total(statsd, "courier.reports.polls") > polls_before, 180, "courier.reports.polls")
    assert _starting_with(statsd, "courier.reports.collections."), "a collection's outcome"
