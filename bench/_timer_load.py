"""What the timer benchmarks share (``timers.py``, ``_scale_timers.py``): schedule timers through the batch
API, read arrivals back from the lean receiver (``_receiver.py``), turn them into lateness."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.postgres import free_port

BATCH = 1000  # timers per POST /courier/timers/batch (the route's maximum)


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def results(receiver: str) -> list[dict[str, Any]]:
    """Every arrival the receiver recorded: ``{id, arrived, scheduled_for}``."""
    return list(httpx.get(f"{receiver}/_results", timeout=60).json())


def wait_for(receiver: str, ids: set[str], deadline: float) -> list[dict[str, Any]]:
    """Poll the receiver until every id of ``ids`` arrived or ``deadline`` (epoch) passed; their arrivals."""
    while True:
        arrivals = [a for a in results(receiver) if a["id"] in ids]
        if {a["id"] for a in arrivals} >= ids or time.time() > deadline:
            return arrivals
        time.sleep(1)


def schedule(api: AirflowApi, url: str, due: list[float]) -> list[str]:
    """Create one timer to ``url`` per due instant (epoch), ``BATCH`` per request; their ids in order."""
    ids: list[str] = []
    for start in range(0, len(due), BATCH):
        chunk = [{"url": url, "fire_at": iso(t)} for t in due[start : start + BATCH]]
        answer = api.request("POST", "/courier/timers/batch", json={"timers": chunk})
        answer.raise_for_status()
        ids += [t["id"] for t in answer.json()]
    return ids


def lateness(arrivals: list[dict[str, Any]]) -> list[float]:
    """Lateness (ms, arrival - scheduled_for) of each timer's first arrival."""
    first: dict[str, float] = {}
    for a in arrivals:
        late = (a["arrived"] - datetime.fromisoformat(a["scheduled_for"]).timestamp()) * 1000
        first.setdefault(a["id"], late)
    return list(first.values())


def wait_for_dispatcher(api: AirflowApi, timeout: float = 120) -> None:
    """Wait until a ``webhook_timers`` dispatcher task is deferred (its trigger runs in the triggerer)."""
    deadline = time.time() + timeout
    while not any(
        ti["state"] == "deferred"
        for run in api.request("GET", "/api/v2/dags/webhook_timers/dagRuns").json()["dag_runs"]
        for ti in api.task_instances("webhook_timers", run["dag_run_id"])
    ):
        if time.time() > deadline:
            raise RuntimeError("the webhook_timers dispatcher did not start")
        time.sleep(1)


@contextlib.contextmanager
def receiver_process() -> Iterator[str]:
    """The lean receiver (``_receiver.py``) in its own process on a free port; its URL. Stopped at the end."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "_receiver.py"), "--port", str(port)]
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
