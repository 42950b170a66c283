"""``courier up --smoke``: run every Courier DAG that can run unattended once and report a table."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from courier.domains import DELAYED_REQUEST
from courier.runtime.airflow_api import AirflowApi

SMOKE_TAG = "smoke"  # DAGs that can run unattended, start to finish, carry this tag
SMOKE_CONF: dict[str, dict[str, Any]] = {}
"""Run conf of smoke runs, per DAG (none needs any)."""
SMOKE_JOBS = 2
"""Small demo jobs submitted through the API before the smoke runs, so ``delayed_request`` has work (demo
data is made here, by ``courier up``, never by a production DAG)."""


@dataclass(frozen=True)
class SmokeResult:
    dag_id: str
    state: str
    seconds: float
    detail: str = ""


def run_smoke(
    api: AirflowApi, timeout: float = 300.0, conf: dict[str, dict[str, Any]] | None = None
) -> list[SmokeResult]:
    """Trigger every DAG tagged ``courier`` and ``smoke`` once, all at once, and wait for each to finish."""
    conf = {**SMOKE_CONF, **(conf or {})}
    dags = [d for d in api.dags(tag="courier") if SMOKE_TAG in {t["name"] for t in d.get("tags", [])}]
    started: dict[str, tuple[str, float]] = {}
    if any(d["dag_id"] == DELAYED_REQUEST for d in dags):
        from courier.demo.seed import submit_demo_jobs

        submit_demo_jobs(api, [None] * SMOKE_JOBS)
    for dag in sorted(dags, key=lambda d: d["dag_id"]):
        if dag.get("is_paused"):
            api.unpause(dag["dag_id"])
        started[dag["dag_id"]] = (api.trigger(dag["dag_id"], conf.get(dag["dag_id"])), time.monotonic())
    results = []
    deadline = time.monotonic() + timeout
    for dag_id, (run_id, began) in started.items():
        run = api.wait_for_run(dag_id, run_id, max(1.0, deadline - time.monotonic()))
        detail = ""
        if run["state"] != "success":
            failed = [
                t["task_id"] for t in api.task_instances(dag_id, run_id) if t["state"] not in ("success", "skipped")
            ]
            detail = "tasks not successful: " + ", ".join(failed)
        results.append(SmokeResult(dag_id, run["state"], _duration(run, began), detail))
    return results


def _duration(run: dict[str, Any], began: float) -> float:
    from datetime import datetime

    if run.get("start_date") and run.get("end_date"):
        start = datetime.fromisoformat(run["start_date"])
        end = datetime.fromisoformat(run["end_date"])
        return (end - start).total_seconds()
    return time.monotonic() - began


def format_table(results: list[SmokeResult]) -> str:
    """Render results as an aligned text table."""
    rows = [("DAG", "state", "duration", "detail")] + [
        (r.dag_id, r.state, f"{r.seconds:.1f}s", r.detail) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
