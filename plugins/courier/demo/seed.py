"""Demo data for ``courier up``: a few webhook timers and one fan-out run, made through the public APIs as a
client would, so every Courier page in the Airflow UI shows live data within a minute of start-up.

Idempotent across restarts: timers carry fixed idempotency keys (a second start finds them) and the fan-out
run is triggered only when ``paginated_fanout`` has none. ``report_collector`` needs nothing: it runs every
minute on its own; ``spec_matrix`` is left to the user (or ``courier up --smoke``): it starts browsers.
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


def seed(api: AirflowApi, demo_url: str) -> dict[str, int]:
    """Create the demo timers (aimed at the demo receiver) and one fan-out run; return what was made."""
    made = {"timers": 0, "fanout_runs": 0}
    for key, delay, payload in DEMO_TIMERS:
        body = {"url": f"{demo_url}/hooks/demo/", "delay_seconds": delay, "payload": payload, "idempotency_key": key}
        answer = api.request("POST", "/courier/timers", json=body)
        if answer.status_code == 201:
            made["timers"] += 1
        elif answer.status_code != 200:  # 200: made by an earlier start
            log.warning("demo timer %s not created: %s %s", key, answer.status_code, answer.text[:200])
    runs = api.request("GET", "/api/v2/dags/paginated_fanout/dagRuns", params={"limit": 1})
    if runs.status_code == 200 and not runs.json().get("dag_runs"):
        api.trigger("paginated_fanout", FANOUT_CONF)
        made["fanout_runs"] += 1
    return made
