"""The monitoring Courier ships: the StatsD exporter mappings in helm-values.yaml, the Prometheus alert rules in
deploy/prometheus/courier-rules.yaml and the Grafana dashboard in deploy/grafana/courier-dashboard.json.

Every expression parses as PromQL (``promql-parser``, the Rust ``promql-parser`` crate's grammar), and every
series it names is one the mappings produce from a metric Courier sends (:data:`courier.metrics.METRICS`),
matched the way the statsd_exporter matches: a glob mapping's ``*`` is one dot-separated component (its FSM
matcher), a regex mapping is searched; the chart's own mappings come first and must match no Courier name, so
their order cannot matter. The names Courier really sends on the wire are checked against the same mappings
in tests/integration/test_metrics_emit.py (a real StatsD listener) and tests/e2e/test_metrics.py.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from courier import metrics
from tests.unit.test_deploy_files import _chart_file, helm_values

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "courier-rules.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "courier-dashboard.json"
STATSD_PREFIX = "airflow"  # the chart's [metrics] statsd_prefix
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


@dataclass(frozen=True)
class Series:
    """A Prometheus metric the exporter exposes: its name and label names."""

    name: str
    labels: frozenset[str]


def _glob(pattern: str) -> re.Pattern[str]:
    """statsd_exporter's glob: ``*`` matches within one dot-separated component, the rest literally."""
    return re.compile("^" + "".join("([^.]*)" if c == "*" else re.escape(c) for c in pattern) + "$")


def _matches(mapping: dict[str, Any], name: str) -> re.Match[str] | None:
    if mapping.get("match_type") == "regex":
        return re.search(str(mapping["match"]), name)
    return _glob(str(mapping["match"])).match(name)


def _expand(template: str, found: re.Match[str]) -> str:
    """A label template with ``$n`` replaced by the n-th captured group."""
    return re.sub(r"\$(\d+)", lambda m: found.group(int(m.group(1))), template)


def map_name(mappings: list[dict[str, Any]], name: str) -> tuple[dict[str, Any], dict[str, str]] | None:
    """The first mapping matching ``name`` and the labels it gives (``$n`` replaced), or None."""
    for mapping in mappings:
        found = _matches(mapping, name)
        if found:
            return mapping, {k: _expand(str(v), found) for k, v in (mapping.get("labels") or {}).items()}
    return None


@functools.cache
def chart_mappings() -> list[dict[str, Any]]:
    data = yaml.safe_load(_chart_file("files/statsd-mappings.yml"))
    return list(data["mappings"])


def courier_mappings() -> list[dict[str, Any]]:
    return list(helm_values()["statsd"]["extraMappings"])


def sample_names(metric: metrics.Metric) -> list[str]:
    """What Courier sends for ``metric`` (Airflow's prefix in front), with two label values when it has a label."""
    if metric.label is None:
        return [f"{STATSD_PREFIX}.{metrics.name_of(metric)}"]
    return [f"{STATSD_PREFIX}.{metrics.name_of(metric, v)}" for v in ("ok", "host-1:123:ab.cd")]


def produced_series() -> dict[str, Series]:
    """Every Prometheus series the mappings make of a Courier metric (histograms: their _bucket/_sum/_count)."""
    out: dict[str, Series] = {}
    for metric in metrics.METRICS:
        mapped = map_name(courier_mappings(), sample_names(metric)[0])
        assert mapped is not None, metric.name
        mapping, labels = mapped
        name = str(mapping["name"])
        if mapping.get("observer_type") == "histogram":
            for suffix in HISTOGRAM_SUFFIXES:
                extra = {"le"} if suffix == "_bucket" else set()
                out[name + suffix] = Series(name + suffix, frozenset(labels) | extra)
        else:
            out[name] = Series(name, frozenset(labels))
    return out


def selectors(expr: str) -> Iterator[tuple[str, set[str]]]:
    """(metric name, label names matched) of every vector selector in ``expr`` (which must parse)."""
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.append((str(node.name), {m.name for m in node.matchers.matchers}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    yield from found


def rule_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load(RULES.read_text())
    return [(r["alert"], str(r["expr"])) for group in rules["groups"] for r in group["rules"]]


def dashboard_expressions() -> list[tuple[str, str]]:
    data = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in data["panels"] for t in p.get("targets", [])]


# --- the mappings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", metrics.METRICS, ids=lambda m: m.name)
def test_each_courier_metric_maps_to_its_labelled_series(metric: metrics.Metric) -> None:
    for name in sample_names(metric):
        assert map_name(chart_mappings(), name) is None, f"a chart mapping takes {name}: the order would matter"
        matching = [m for m in courier_mappings() if _matches(m, name)]
        assert len(matching) == 1, f"{name} matches {len(matching)} Courier mappings: {matching}"
        mapped = map_name(courier_mappings(), name)
        assert mapped is not None
        mapping, labels = mapped
        assert mapping["name"] == metric.prometheus
        assert set(labels) == ({metric.label} if metric.label else set())
        if metric.label:
            assert labels[metric.label] == name.rsplit(".", 1)[1]  # the last component, sanitised by Courier
        assert (mapping.get("observer_type") == "histogram") == (metric.kind == "timer"), mapping


def test_every_courier_mapping_is_used_and_names_are_unique() -> None:
    used = {str(map_name(courier_mappings(), sample_names(m)[0])[0]["match"]) for m in metrics.METRICS}  # type: ignore[index]
    assert used == {str(m["match"]) for m in courier_mappings()}
    assert len({m.name for m in metrics.METRICS}) == len(metrics.METRICS)
    assert len({m.prometheus for m in metrics.METRICS}) == len(metrics.METRICS)


def test_label_values_stay_one_component() -> None:
    assert metrics.name_of(metrics.TIMERS_HEARTBEAT_AGE, "host.example.org:12:ab") == (
        "courier.timers.dispatcher.heartbeat_age.host_example_org_12_ab"
    )
    with pytest.raises(ValueError, match="outcome"):
        metrics.name_of(metrics.TIMERS_FIRED)


def test_the_glob_matcher_is_per_component() -> None:
    """The matcher the other tests rely on: ``*`` never crosses a dot (else a label with a dot would match)."""
    assert _matches({"match": "a.b.*"}, "a.b.c")
    assert not _matches({"match": "a.b.*"}, "a.b.c.d")
    assert not _matches({"match": "a.b.*"}, "a.bx.c")


# --- rules and dashboard ------------------------------------------------------------------------------------


def _check(expressions: list[tuple[str, str]]) -> list[str]:
    series = produced_series()
    problems = []
    for title, expr in expressions:
        try:
            found = list(selectors(expr))
        except ValueError as exc:
            problems.append(f"{title}: does not parse: {exc}")
            continue
        if not found:
            problems.append(f"{title}: names no series")
        for name, labels in found:
            if name not in series:
                problems.append(f"{title}: {name} is no series the mappings produce from a Courier metric")
            elif not labels <= series[name].labels:
                problems.append(f"{title}: {name} has no label(s) {sorted(labels - series[name].labels)}")
    return problems


def test_alert_rules_parse_and_name_only_courier_series() -> None:
    expressions = rule_expressions()
    assert not _check(expressions)
    names = {alert for alert, _ in expressions}
    # what the issue asks for: dispatcher down, overdue, lateness, stuck jobs, roll-up, reports, retention
    for wanted in (
        "CourierTimerDispatcherDown",
        "CourierTimersOverdue",
        "CourierTimerLatenessHigh",
        "CourierJobsStuck",
        "CourierStatsRollupLagging",
        "CourierReportCollectionFailing",
        "CourierRetentionFailed",
    ):
        assert wanted in names


def test_dashboard_parses_and_covers_every_metric() -> None:
    expressions = dashboard_expressions()
    assert not _check(expressions)
    shown = {name for _, expr in expressions for name, _ in selectors(expr)}
    for metric in metrics.METRICS:
        assert any(s == metric.prometheus or s.startswith(metric.prometheus + "_") for s in shown), metric.name


def test_the_checks_catch_a_wrong_name_a_wrong_label_and_bad_syntax() -> None:
    """The checks above can fail: each kind of mistake is reported."""
    problems = _check(
        [
            ("typo", "rate(courier_timers_fire_total[5m])"),
            ("label", 'courier_jobs_stuck{status="queued"}'),
            ("syntax", "sum(rate(courier_timers_created_total[5m])"),
        ]
    )
    assert len(problems) == 3, problems


def test_the_docs_command_writes_the_mappings_for_a_statsd_exporter(tmp_path: Path) -> None:
    """docs/DEPLOY.md "Monitoring" gives compose users a command that writes Courier's mappings as a file for
    ``--statsd.mapping-config``: run exactly that command (its ``uv run python``: this interpreter)."""
    import shlex
    import subprocess
    import sys

    text = (REPO / "docs" / "DEPLOY.md").read_text()
    section = text[text.index("## Monitoring") :]
    command = re.search(r"```bash\n(uv run python -c .+?) > courier-statsd-mappings\.yml\n```", section)
    assert command, "the mappings command in docs/DEPLOY.md"
    argv = shlex.split(command.group(1))
    out = subprocess.run([sys.executable, *argv[3:]], cwd=REPO, capture_output=True, text=True, check=True).stdout
    (tmp_path / "courier-statsd-mappings.yml").write_text(out)
    assert yaml.safe_load(out) == {"mappings": courier_mappings()}
