"""Webhook timers through the real stack: the Courier API with a bearer token, the `webhook_timers`
dispatcher in the real triggerer, a receiver on loopback verifying with the `standardwebhooks` package,
and a triggerer outage while timers are due."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from courier.demo.server import serve_in_thread
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Secrets, Stack

DAG = "webhook_timers"


class Receiver:
    """A third-party receiver: verifies every request with the reference Standard Webhooks library."""

    def __init__(self, secret: str) -> None:
        self.webhook = Webhook(secret)
        self.arrivals: list[dict[str, Any]] = []
        self.rejected = 0
        self.lock = threading.Lock()
        self.app = FastAPI()
        self.app.post("/hook/{rest:path}")(self.receive)

    async def receive(self, rest: str, request: Request) -> Response:
        arrived = time.time()
        body = await request.body()
        try:
            message = self.webhook.verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.rejected += 1
            return JSONResponse({"detail": "bad signature"}, status_code=401)
        with self.lock:
            self.arrivals.append(
                {
                    "path": rest,
                    "webhook_id": request.headers["webhook-id"],
                    "late_ms": (arrived - datetime.fromisoformat(message["scheduled_for"]).timestamp()) * 1000,
                    "payload": message["payload"],
                }
            )
        return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def receiver(stack: Stack) -> Iterator[tuple[Receiver, str]]:
    secret = Secrets.load_or_create(stack.home / "secrets.json").webhook_secret
    receiving = Receiver(secret)
    with serve_in_thread(receiving.app) as url:
        yield receiving, f"{url}/hook/"


def _dispatcher_deferred(api: AirflowApi) -> bool:
    runs = api.request("GET", f"/api/v2/dags/{DAG}/dagRuns", params={"state": "running"}).json()["dag_runs"]
    return any(ti["state"] == "deferred" for run in runs for ti in api.task_instances(DAG, run["dag_run_id"]))


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def _create(api: AirflowApi, url: str, delays: list[float], tag: str) -> list[str]:
    body = {"timers": [{"url": url, "delay_seconds": d, "payload": {"tag": tag, "n": i}} for i, d in enumerate(delays)]}
    answer = api.request("POST", "/courier/timers/batch", json=body)
    assert answer.status_code == 201, answer.text
    return [t["id"] for t in answer.json()]


def test_timers_arrive_signed_on_time_and_show_delivered(
    stack: Stack, api: AirflowApi, receiver: tuple[Receiver, str]
) -> None:
    receiving, url = receiver
    _wait(lambda: _dispatcher_deferred(api), 120, "the webhook_timers dispatcher to be deferred in the triggerer")
    one = api.request("POST", "/courier/timers", json={"url": url, "delay_seconds": 1, "payload": {"tag": "one"}})
    assert one.status_code == 201, one.text
    ids = [one.json()["id"], *_create(api, url, [2 + i * 0.25 for i in range(19)], "batch")]
    _wait(lambda: {a["webhook_id"] for a in receiving.arrivals} >= set(ids), 60, "20 webhooks")
    mine = [a for a in receiving.arrivals if a["webhook_id"] in ids]
    assert receiving.rejected == 0
    assert len(mine) == 20 and all(a["path"] == a["webhook_id"] for a in mine), "POSTed to url + id"
    assert min(a["late_ms"] for a in mine) >= 0, "a webhook arrived early"
    assert max(a["late_ms"] for a in mine) < 1000, sorted(a["late_ms"] for a in mine)
    timer = api.request("GET", f"/courier/timers/{ids[0]}").json()
    assert timer["status"] == "delivered" and timer["attempt_log"][0]["status_code"] == 200
    assert 0 <= timer["lateness_ms"] < 1000


def test_triggerer_outage_loses_no_timer(stack: Stack, api: AirflowApi, receiver: tuple[Receiver, str]) -> None:
    receiving, url = receiver
    _wait(lambda: _dispatcher_deferred(api), 120, "the dispatcher")
    ids = _create(api, url, [3 + i for i in range(30)], "outage")  # due over the next 3..32 s
    time.sleep(5)
    stack.stop_component("triggerer")
    down_at = time.time()
    time.sleep(12)  # timers come due while no dispatcher runs
    stack.start_component("triggerer")
    _wait(lambda: {a["webhook_id"] for a in receiving.arrivals} >= set(ids), 120, "every timer after the outage")
    with psycopg.connect(stack.env["AIRFLOW_CONN_COURIER_DB"]) as conn:
        rows = conn.execute(
            "SELECT id, status, attempts, fired_at, fire_at FROM courier_timers WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    assert len(rows) == 30 and {r[1] for r in rows} == {"delivered"}
    overdue = [r for r in rows if r[4].timestamp() < down_at + 12]
    assert overdue and all(r[3] > r[4] for r in overdue), "timers due during the outage fired after it, late"
    assert all(r[2] <= 2 for r in rows), "a timer was fired more than twice"
    # every send of a timer carries its one webhook-id: the receiver can drop any repeat
    assert {a["webhook_id"] for a in receiving.arrivals if a["payload"]["tag"] == "outage"} == set(ids)
