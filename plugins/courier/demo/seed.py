"""Demo data for ``courier up``: a few webhook timers, one job (a pushed file), one fan-out run and one spec
run, made through the public APIs as a client would, so every Courier page in the Airflow UI shows live data
within a minute of start-up.

Idempotent across restarts: timers and the job carry fixed idempotency keys (a second start finds them; the
job's file is pushed only while there is no job at all), and the fan-out and spec runs are triggered only when
``paginated_fanout`` / ``spec_matrix`` have none. ``report_collector`` and ``stats_rollup`` need nothing: they
run every minute on their own (the collector's waits and the timers' lateness feed the Stats page).
"""

from __future__ import annotations

import logging
from typing import Any

from courier.runtime.airflow_api import AirflowApi

log = logging.getLogger(__name__)

DEMO_TIMERS = (
    # (idempotency key, seconds from now, payload)
    ("courier-demo-1", 5, {"demo": "fires 5 s after start-up"}),
    ("courier-demo-2", 10, {"demo": "fires 10 s after start-up"}),
    ("courier-demo-3", 20, {"demo": "fires 20 s after start-up"}),
    ("courier-demo-later", 1800, {"demo": "pending for 30 minutes: cancel it from the Timers page"}),
)
FANOUT_CONF: dict[str, Any] = {"query": {"pages": 60, "rows": 5, "latency_ms": 20}}
DEMO_JOB_KEY = "courier-demo-job-1"
DEMO_JOB_FILE = ("courier-demo.csv", b"city,visits\nLisbon,3\nOslo,5\nKyoto,8\n")


def seed(api: AirflowApi, demo_url: str) -> dict[str, int]:
    """Create the demo timers (aimed at the demo receiver), a job, a fan-out and a spec run; return what was made."""
    made = {"timers": 0, "jobs": 0, "fanout_runs": 0, "spec_runs": 0}
    for key, delay, payload in DEMO_TIMERS:
        body = {"url": f"{demo_url}/hooks/demo/", "delay_seconds": delay, "payload": payload, "idempotency_key": key}
        answer = api.request("POST", "/courier/timers", json=body)
        if answer.status_code == 201:
            made["timers"] += 1
        elif answer.status_code != 200:  # 200: made by an earlier start
            log.warning("demo timer %s not created: %s %s", key, answer.status_code, answer.text[:200])
    made["jobs"] = _seed_job(api)
    for dag_id, conf, key in (("paginated_fanout", FANOUT_CONF, "fanout_runs"), ("spec_matrix", None, "spec_runs")):
        runs = api.request("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1})
        if runs.status_code == 200 and not runs.json().get("dag_runs"):
            api.trigger(dag_id, conf)  # spec_matrix: the shipped suite (include/specs/) against the demo site
            made[key] += 1
    return made


def _seed_job(api: AirflowApi) -> int:
    """Push a small file and submit one job for it, as a client would; return 1 if a job was made."""
    existing = api.request("GET", "/courier/jobs", params={"limit": 1})
    if existing.status_code != 200 or existing.json().get("jobs"):
        return 0  # jobs exist already (an earlier start, or a user's): push nothing
    return len(submit_demo_jobs(api, [DEMO_JOB_KEY]))


def submit_demo_jobs(api: AirflowApi, keys: list[str | None]) -> list[str]:
    """Push the demo file and submit one job per idempotency key (None: none), as a client would; return the
    ids of the jobs made. ``courier up`` seeds one; ``courier up --smoke`` queues two before its runs."""
    pushed = api.request("POST", "/courier/jobs/files", files={"file": DEMO_JOB_FILE})
    if pushed.status_code != 201:
        log.warning("demo job file not pushed: %s %s", pushed.status_code, pushed.text[:200])
        return []
    made = []
    for key in keys:
        body: dict[str, Any] = {"files_to_process": [pushed.json()["file_id"]], "params": {"delay_seconds": 1}}
        if key is not None:
            body["idempotency_key"] = key
        answer = api.request("POST", "/courier/jobs", json=body)
        if answer.status_code == 202:
            made.append(str(answer.json()["job_id"]))
        elif answer.status_code != 200:
            log.warning("demo job not submitted: %s %s", answer.status_code, answer.text[:200])
    return made
