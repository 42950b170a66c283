"""Webhook timers through the real stack: the Courier API with a bearer token, the `webhook_timers`
dispatcher in the real triggerer, a receiver on loopback verifying with the `standardwebhooks` package,
and a triggerer outage while timers are due."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
    with psycopg.connect(stack.courier_url) as conn:
        rows = conn.execute(
            "SELECT id, status, attempts, fired_at, fire_at FROM courier_timers WHERE id = ANY(%s)", (ids,)
        ).fetchall()
    assert len(rows) == 30 and {r[1] for r in rows} == {"delivered"}
    overdue = [r for r in rows if r[4].timestamp() < down_at + 12]
    assert overdue and all(r[3] > r[4] for r in overdue), "timers due during the outage fired after it, late"
    assert all(r[2] <= 2 for r in rows), "a timer was fired more than twice"
    # every send of a timer carries its one webhook-id: the receiver can drop any repeat
    assert {a["webhook_id"] for a in receiving.arrivals if a["payload"]["tag"] == "outage"} == set(ids)


WAITERS = "courier_e2e_waiters"  # tests/e2e/dags/courier_e2e_waiters.py: 300 mapped waits for delivery


def _task_states(api: AirflowApi, run_id: str) -> dict[str, int]:
    """Task instances of the run by state, every page of them (Airflow's REST API gives at most
    ``[api] maximum_page_limit``, 100, a page)."""
    states: dict[str, int] = {}
    offset = 0
    while True:
        answer = api.request(
            "GET", f"/api/v2/dags/{WAITERS}/dagRuns/{run_id}/taskInstances", params={"limit": 100, "offset": offset}
        )
        answer.raise_for_status()
        page = answer.json()["task_instances"]
        for ti in page:
            states[str(ti["state"])] = states.get(str(ti["state"]), 0) + 1
        offset += len(page)
        if not page or offset >= answer.json()["total_entries"]:
            return states


def _courier_connections(stack: Stack) -> dict[str, int]:
    """Connections to the Courier database (``pg_stat_activity``) by the stack component holding them
    (the client port of each backend mapped to its process, then to the component whose tree it is in)."""
    import psutil

    url = stack.courier_url
    with psycopg.connect(url, autocommit=True) as conn:
        ports = [
            r[0]
            for r in conn.execute(
                "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND client_port IS NOT NULL"
            ).fetchall()
        ]
    owner_of: dict[int, str] = {}
    for child in stack.supervisor.children:
        try:
            root = psutil.Process(child.process.pid)
            for proc in [root, *root.children(recursive=True)]:
                owner_of[proc.pid] = child.name
        except psutil.NoSuchProcess:
            continue
    by_port = {c.laddr.port: c.pid for c in psutil.net_connections("tcp") if c.laddr and c.pid is not None}
    counts: dict[str, int] = {}
    for port in ports:
        name = owner_of.get(by_port.get(port, -1), "other")
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_300_tasks_waiting_for_delivery_hold_few_connections(
    stack: Stack, api: AirflowApi, receiver: tuple[Receiver, str]
) -> None:
    """300 tasks wait deferred for their webhooks at once; the triggerer holds a small constant of Courier
    database connections (its dispatchers' and one delivery watch), not one per waiting task; each task
    gets its own event when its timer ends (here: cancelled, so each fails naming the reason)."""
    _, url = receiver
    _wait(lambda: _dispatcher_deferred(api), 120, "the webhook_timers dispatcher to be deferred in the triggerer")
    # the dispatchers' own connections (each: its claim, listen, fire and record loops and its heartbeat) are
    # what the triggerer holds before any task waits
    _wait(lambda: _courier_connections(stack).get("triggerer", 0) >= 2, 60, "the dispatchers' connections")
    time.sleep(2)
    before = _courier_connections(stack)
    fire_at = datetime.now(UTC) + timedelta(hours=1)
    run_id = api.trigger(WAITERS, {"url": url + "waiters/", "fire_at": fire_at.isoformat()})
    with _ended_whatever_happens(api, run_id, url + "waiters/"):
        _check_300_waiters(stack, api, run_id, url, before)


@contextlib.contextmanager
def _ended_whatever_happens(api: AirflowApi, run_id: str, prefix: str) -> Iterator[None]:
    """If the test stops half-way, end its run (failed) and cancel the timers it made, so that 300 tasks and
    timers an hour ahead do not go on working (and filling the timers page) under the tests that follow."""
    try:
        yield
    except BaseException:
        api.request("PATCH", f"/api/v2/dags/{WAITERS}/dagRuns/{run_id}", json={"state": "failed"})
        for timer_id in _scheduled_timers(api, prefix):
            api.request("POST", f"/courier/timers/{timer_id}/cancel")
        raise


def _scheduled_timers(api: AirflowApi, prefix: str) -> list[str]:
    """Ids of the scheduled timers whose URL starts with ``prefix``, every page of the listing."""
    found: list[str] = []
    cursor = None
    while True:  # the listing is paged (at most 200 a page)
        params = {"status": "scheduled", "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.request("GET", "/courier/timers", params=params).json()
        found += [t["id"] for t in page["timers"] if t["url"].startswith(prefix)]
        cursor = page.get("next_cursor")
        if not cursor:
            return found


def _check_300_waiters(stack: Stack, api: AirflowApi, run_id: str, url: str, before: dict[str, int]) -> None:
    _wait(lambda: _task_states(api, run_id).get("deferred", 0) == 300, 900, "300 tasks deferred")
    time.sleep(3)  # every trigger running in the triggerer, the watch polling for all
    during = _courier_connections(stack)
    print(f"Courier DB connections by component: before {before}, with 300 waiting {during}")
    # a small constant, not one per waiting task: two dispatchers' connections (each about five) and the one
    # delivery watch (measured: 11 with 300 waiting); the dispatchers connect one after the other, so `before`
    # is printed, not compared
    assert during.get("triggerer", 0) <= 16, (before, during)
    mine = _scheduled_timers(api, url + "waiters/")
    assert len(mine) == 300
    for timer_id in mine:
        assert api.request("POST", f"/courier/timers/{timer_id}/cancel").status_code == 200
    run = api.wait_for_run(WAITERS, run_id, 900)
    assert run["state"] == "failed" and _task_states(api, run_id) == {"failed": 300}
    log = api.request(
        "GET", f"/api/v2/dags/{WAITERS}/dagRuns/{run_id}/taskInstances/wait/logs/1", params={"map_index": 0}
    ).text
    assert "ended cancelled" in log
