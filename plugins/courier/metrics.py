"""Courier's metrics for the platform's monitoring, through Airflow's own metrics layer: every name in one place.

Courier adds no exporter: each function below calls the Task SDK's public stats module
(``airflow.sdk.observability.stats``), which sends StatsD, DogStatsD or OpenTelemetry as the deployment's
``[metrics]`` section says (nothing when metrics are off), with Airflow's ``statsd_prefix`` in front. Names are
``courier.<domain>.<what>``; a label (outcome, status, dispatcher, table) is the **last component of the name**
(``courier.timers.fired.delivered``), because Airflow's plain StatsD client sends no tags: the StatsD exporter's
mappings (``helm-values.yaml`` ``statsd.extraMappings``, docs/DEPLOY.md "Monitoring") turn that component back
into a Prometheus label (``courier_timers_fired_total{outcome="delivered"}``). :data:`METRICS` lists every name
with its kind and label; the mappings, alert rules and dashboard are tested against it.

Why :func:`_ready` initialises the stats module itself: Airflow initialises the SDK's stats singleton in a task
runner, but the API server initialises the core's copy and a pod running ``courier`` commands initialises
none, so a Courier call there would go nowhere. Once per process Courier calls the SDK's public
``stats.initialize`` with the SDK's own factory (``stats_utils.get_stats_factory``, which reads ``[metrics]``)
exactly as Airflow's task runner does; a second initialisation only replaces the client by an identical one.

Metrics never fail the caller: every function swallows and logs (debug) whatever the metrics layer raises.
Hot paths aggregate before calling (:class:`TimerMeter`: the dispatcher's counts and lateness leave at most
once per ``every`` seconds, never one UDP packet per timer).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "courier"


@dataclass(frozen=True)
class Metric:
    """One Courier metric: its StatsD name (without Airflow's prefix), kind, the label its last component
    carries (if any) and the Prometheus name the mappings give it."""

    name: str
    kind: str  # counter | gauge | timer
    label: str | None
    prometheus: str
    help: str


def _m(name: str, kind: str, prometheus: str, help: str, label: str | None = None) -> Metric:
    return Metric(f"{PREFIX}.{name}", kind, label, prometheus, help)


TIMERS_CREATED = _m("timers.created", "counter", "courier_timers_created_total", "timers created (new ones only)")
TIMERS_FIRED = _m("timers.fired", "counter", "courier_timers_fired_total", "timer attempts by outcome", "outcome")
TIMERS_LATENESS = _m(
    "timers.lateness", "timer", "courier_timers_lateness_seconds", "send time minus due time (bounded sample)"
)
TIMERS_OVERDUE = _m("timers.overdue", "gauge", "courier_timers_overdue", "open timers more than 10 s past due")
TIMERS_HEARTBEAT_AGE = _m(
    "timers.dispatcher.heartbeat_age",
    "gauge",
    "courier_timers_dispatcher_heartbeat_age_seconds",
    "seconds since the dispatcher last renewed its heartbeat",
    "dispatcher",
)
JOBS_SUBMITTED = _m("jobs.submitted", "counter", "courier_jobs_submitted_total", "jobs submitted (new ones only)")
JOBS_STATUS = _m("jobs.status", "gauge", "courier_jobs_status", "jobs per status", "status")
JOBS_STUCK = _m("jobs.stuck", "gauge", "courier_jobs_stuck", "jobs processing past their deadline")
REPORTS_WAIT = _m("reports.wait", "timer", "courier_reports_wait_seconds", "ticket to stored report")
REPORTS_POLLS = _m("reports.polls", "counter", "courier_reports_polls_total", "report polls")
REPORTS_COLLECTIONS = _m(
    "reports.collections", "counter", "courier_reports_collections_total", "report collections by outcome", "outcome"
)
PAGES_FETCHED = _m("pages.fetched", "counter", "courier_pages_fetched_total", "pages fetched")
PAGES_FAILED = _m("pages.failed", "counter", "courier_pages_failed_total", "pages that failed after retries")
STATS_INGESTED = _m("stats.ingested", "counter", "courier_stats_ingested_total", "events accepted by POST /stats")
STATS_ROLLUP_LAG = _m(
    "stats.rollup_lag", "gauge", "courier_stats_rollup_lag_seconds", "now minus the roll-up watermark"
)
SPECS_CELLS = _m("specs.cells", "counter", "courier_specs_cells_total", "spec cells finished, by outcome", "outcome")
RETENTION_DELETED = _m(
    "retention.deleted", "counter", "courier_retention_deleted_total", "rows deleted by retention", "table"
)
RETENTION_RUNS = _m("retention.runs", "counter", "courier_retention_runs_total", "retention runs by outcome", "outcome")
RETENTION_LAST_SUCCESS = _m(
    "retention.last_success",
    "gauge",
    "courier_retention_last_success_timestamp_seconds",
    "unix time of the last successful retention run",
)

METRICS: tuple[Metric, ...] = (
    TIMERS_CREATED,
    TIMERS_FIRED,
    TIMERS_LATENESS,
    TIMERS_OVERDUE,
    TIMERS_HEARTBEAT_AGE,
    JOBS_SUBMITTED,
    JOBS_STATUS,
    JOBS_STUCK,
    REPORTS_WAIT,
    REPORTS_POLLS,
    REPORTS_COLLECTIONS,
    PAGES_FETCHED,
    PAGES_FAILED,
    STATS_INGESTED,
    STATS_ROLLUP_LAG,
    SPECS_CELLS,
    RETENTION_DELETED,
    RETENTION_RUNS,
    RETENTION_LAST_SUCCESS,
)
"""Every metric Courier emits (tests/unit/test_monitoring.py checks the mappings, rules and dashboard against
it, and that no other ``courier.`` name is sent)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

# ---------------------------------------------------------------------- the metrics layer
_lock = threading.Lock()
_initialised = False
_warned = False


def _ready() -> Any:
    """The SDK's stats module, initialised once per process (see the module docstring for why)."""
    global _initialised
    from airflow.sdk.observability import stats

    if not _initialised:
        with _lock:
            if not _initialised:
                from airflow.sdk.configuration import conf
                from airflow.sdk.observability.metrics import stats_utils

                stats.initialize(
                    factory=stats_utils.get_stats_factory(),
                    export_legacy_names=conf.getboolean("metrics", "legacy_names_on", fallback=True),
                )
                _initialised = True
    return stats


def label_value(value: object) -> str:
    """A label value as one name component: anything but letters, digits, ``_`` and ``-`` becomes ``_`` (a dot
    would split the component; StatsD names allow nothing else)."""
    return _UNSAFE.sub("_", str(value)) or "_"


def name_of(metric: Metric, label: object | None = None) -> str:
    """The StatsD name of ``metric`` (with its label component when it has one)."""
    if metric.label is None:
        return metric.name
    if label is None:
        raise ValueError(f"{metric.name} needs its {metric.label} label")
    return f"{metric.name}.{label_value(label)}"


def _send(kind: str, metric: Metric, value: float, label: object | None = None) -> None:
    try:
        stats = _ready()
        stat = name_of(metric, label)
        if kind == "counter":
            stats.incr(stat, int(value))
        elif kind == "gauge":
            stats.gauge(stat, float(value))
        else:
            stats.timing(stat, float(value))  # milliseconds, as StatsD timers are
    except Exception as exc:  # a metric never fails the work it describes; the first failure is logged loudly
        global _warned
        level = logging.DEBUG if _warned else logging.WARNING
        _warned = True
        log.log(level, "Courier metric %s not sent (later failures are logged at debug): %s", metric.name, exc)


def count(metric: Metric, n: int = 1, label: object | None = None) -> None:
    if n > 0:
        _send("counter", metric, n, label)


def gauge(metric: Metric, value: float, label: object | None = None) -> None:
    _send("gauge", metric, value, label)


def timing_ms(metric: Metric, ms: float, label: object | None = None) -> None:
    _send("timer", metric, max(0.0, ms), label)


# ---------------------------------------------------------------------- one named function per call site
def timers_created(n: int) -> None:
    count(TIMERS_CREATED, n)


def timer_overdue(n: int) -> None:
    gauge(TIMERS_OVERDUE, n)


def dispatcher_heartbeat_age(dispatcher: str, seconds: float) -> None:
    gauge(TIMERS_HEARTBEAT_AGE, round(seconds, 3), dispatcher)


def jobs_submitted(n: int) -> None:
    count(JOBS_SUBMITTED, n)


def jobs_status(counts: dict[str, int], stuck: int) -> None:
    """Jobs per status (every status in ``counts``, zeros included) and the stuck ones."""
    for status, n in counts.items():
        gauge(JOBS_STATUS, n, status)
    gauge(JOBS_STUCK, stuck)


def report_collected(waited_s: float, polls: int) -> None:
    timing_ms(REPORTS_WAIT, waited_s * 1000)
    count(REPORTS_POLLS, polls)
    count(REPORTS_COLLECTIONS, 1, "collected")


def report_not_collected(reason: str, polls: int) -> None:
    """A collection that ended without a stored report (``failed``, ``timeout``, ``malformed``, ``exception``)."""
    count(REPORTS_POLLS, polls)
    count(REPORTS_COLLECTIONS, 1, reason)


def pages_fetched(ok: int, failed: int) -> None:
    count(PAGES_FETCHED, ok)
    count(PAGES_FAILED, failed)


def stats_ingested(n: int) -> None:
    count(STATS_INGESTED, n)


def stats_rollup_lag(seconds: float) -> None:
    gauge(STATS_ROLLUP_LAG, round(seconds, 3))


def spec_cell(outcome: str) -> None:
    count(SPECS_CELLS, 1, outcome)


def retention_deleted(table: str, n: int) -> None:
    """Rows (or files) retention deleted from ``table`` in one batch or run."""
    count(RETENTION_DELETED, n, table)


def retention_run(ok: bool) -> None:
    """The end of a retention run: its outcome, and on success the time (the "retention failing" alert)."""
    count(RETENTION_RUNS, 1, "ok" if ok else "failed")
    if ok:
        gauge(RETENTION_LAST_SUCCESS, time.time())


# ---------------------------------------------------------------------- the dispatcher's meter
class TimerMeter:
    """What one dispatcher fired, sent at most once per ``every`` seconds: one counter per outcome and at most
    ``samples`` lateness values per flush — evenly spaced order statistics of the period's latenesses
    (minimum and maximum included), so a histogram of them keeps the distribution's shape, the tail
    conservatively, while the packets per second stay bounded whatever the firing rate."""

    def __init__(self, every: float = 1.0, samples: int = 16) -> None:
        self.every = every
        self.samples = max(2, samples)
        self._outcomes: Counter[str] = Counter()
        self._lateness_ms: list[float] = []
        self._sent_at = time.monotonic()
        try:  # initialise the metrics layer now, not on the first beat or flush of a running dispatcher
            _ready()
        except Exception as exc:
            log.debug("metrics not initialised: %s", exc)

    def fired(self, outcome: str, lateness_ms: float | None) -> None:
        self._outcomes[outcome] += 1
        if lateness_ms is not None:
            self._lateness_ms.append(lateness_ms)

    def flush(self, force: bool = False) -> bool:
        """Send what was gathered if ``every`` seconds passed (or ``force``); return whether it sent."""
        if not force and time.monotonic() - self._sent_at < self.every:
            return False
        self._sent_at = time.monotonic()
        outcomes, self._outcomes = self._outcomes, Counter()
        late, self._lateness_ms = self._lateness_ms, []
        for outcome, n in outcomes.items():
            count(TIMERS_FIRED, n, outcome)
        for value in spread(late, self.samples):
            timing_ms(TIMERS_LATENESS, value)
        return True


def spread(values: list[float], k: int) -> list[float]:
    """``values`` if there are at most ``k``, else ``k`` evenly spaced order statistics (min and max included)."""
    if len(values) <= k:
        return list(values)
    ordered = sorted(values)
    last = len(ordered) - 1
    return [ordered[round(i * last / (k - 1))] for i in range(k)]
