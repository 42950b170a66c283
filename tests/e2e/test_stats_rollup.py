"""Stats through the real stack: events posted over the API with a bearer token (the non-admin ``service``
user) appear in ``courier_stats`` after a ``stats_rollup`` run and in ``GET /courier/stats/series``."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack


def test_posted_events_are_rolled_up_and_served(stack: Stack, api: AirflowApi) -> None:
    name = f"e2e.latency.{uuid.uuid4().hex[:6]}"
    ts = time.time() - 90  # a closed minute
    events = [{"name": name, "value": v, "type": "timer", "tags": {"route": "/x"}, "ts": ts} for v in range(1, 101)]
    service = stack.api("service")
    try:
        posted = service.request("POST", "/courier/stats", json=events, headers={"Idempotency-Key": name})
        assert posted.status_code == 202 and posted.json()["accepted"] == 100, posted.text
    finally:
        service.close()

    run_id = api.trigger("stats_rollup")
    run = api.wait_for_run("stats_rollup", run_id, timeout=240)
    assert run["state"] == "success", run

    with psycopg.connect(stack.courier_url) as conn:
        row = conn.execute(
            "SELECT count, sum, min, max, p50, p99 FROM courier_stats WHERE name = %s", (name,)
        ).fetchone()
    assert row is not None and row[:4] == (100, 5050.0, 1.0, 100.0)
    assert row[4:] == pytest.approx((50.5, 99.01))

    answer = api.request("GET", "/courier/stats/series", params={"name": name, "tag": "route:/x"})
    assert answer.status_code == 200, answer.text
    [series] = answer.json()["series"]
    [point] = series["points"]
    assert point["partial"] is False and point["count"] == 100 and point["p50"] == 50.5
