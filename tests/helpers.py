"""Small helpers shared by the test layers (no fixtures here)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def aws_connection_json(endpoint_url: str) -> str:
    """An ``aws_default`` connection (JSON form) pointing at a local S3-protocol server."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"},
        }
    )


def s3_client(endpoint_url: str) -> Any:
    """A boto3 S3 client for the local S3-protocol server."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


def api_app(role: str = "admin", username: str = "tester") -> Any:
    """The Courier app with Airflow's ``SimpleAuthManager`` initialised and every request made as a user of
    ``role`` (``viewer``, ``user``, ``op``, ``admin``): authorization runs for real, authentication is skipped.

    Requests carry ``Authorization: Bearer`` (a client of the API, as the tests mean), unless they set one or
    a ``Cookie`` themselves: a change carried by the UI cookie alone must come from the same origin
    (:func:`courier.api.auth.same_origin`)."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from courier.api.app import create_app

    init_auth_manager()
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=username, role=role)
    return _BearerByDefault(app)


class StatsdListener:
    """A StatsD server on loopback as far as a test needs one: every line received, parsed as (name, value,
    type)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix  # keep only the lines whose name starts with it (a stack sends Airflow's too)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lines: list[tuple[str, float, str]] = []
        self.packets = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd-listener", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65535)
            except TimeoutError:
                continue
            self.packets += 1
            for line in data.decode(errors="replace").splitlines():
                if not line.startswith(self.prefix) or ":" not in line:
                    continue
                name, rest = line.split(":", 1)
                value, kind = rest.split("|")[:2]
                self.lines.append((name, float(value), kind))

    def named(self, name: str) -> list[tuple[float, str]]:
        return [(v, k) for n, v, k in list(self.lines) if n == name]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 2.0) -> Any:
    """Call ``check`` every ``every`` s until it returns something true (returned) or ``timeout`` s pass
    (AssertionError naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def dag_bag(dag_folder: str, **kwargs: Any) -> Any:
    """Parse ``dag_folder`` with Airflow's ``DagBag`` (what the dag-processor runs); it moved from
    ``airflow.models.dagbag`` (Airflow 3.1, tests/compat) to ``airflow.dag_processing.dagbag`` (3.2)."""
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:
        from airflow.models.dagbag import DagBag
    return DagBag(dag_folder=dag_folder, **kwargs)


def build_wheel(out_dir: Any) -> Any:
    """Build Courier's wheel from the working tree into ``out_dir`` with uv; return its path."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import REPO

    uv = [found] if (found := shutil.which("uv")) else [sys.executable, "-m", "uv"]
    result = subprocess.run(
        [*uv, "build", "--wheel", "--out-dir", str(out_dir), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = Path(out_dir).glob("airflow_courier-*.whl")
    return wheel


class _BearerByDefault:
    """An ASGI wrapper adding ``Authorization: Bearer test`` to requests without credentials of their own."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # dependency_overrides, routes, state … of the wrapped app
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope["headers"]}
            if b"authorization" not in names and b"cookie" not in names:
                scope = {**scope, "headers": [*scope["headers"], (b"authorization", b"Bearer test")]}
        await self.app(scope, receive, send)


async def first_event_while_dispatching(trigger: Any, courier_db: str, secret: str, timeout: float = 20.0) -> Any:
    """Run a real timer dispatcher (private targets allowed: loopback) until ``trigger`` yields its first event."""
    import asyncio

    from courier.timers.dispatcher import Dispatcher, DispatcherSettings

    dispatcher = Dispatcher(courier_db, DispatcherSettings(secret=secret, allow_private=True))
    running = asyncio.create_task(dispatcher.run())
    try:
        return await asyncio.wait_for(anext(trigger.run()), timeout)
    finally:
        dispatcher.stop()
        await running


def rebuilt(trigger: Any) -> Any:
    """The trigger as a triggerer re-creates it: its ``serialize()`` through JSON, then its class called with
    the keyword arguments (so what it needs must be in its arguments, JSON-safe)."""
    import importlib

    path, kwargs = trigger.serialize()
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)(**json.loads(json.dumps(kwargs)))


async def first_event(trigger: Any, timeout: float) -> Any:
    """The trigger's first event, its generator then closed (as the triggerer ends a trigger that fired)."""
    import asyncio

    agen = trigger.run()
    try:
        return await asyncio.wait_for(anext(agen), timeout)
    finally:
        await agen.aclose()


def run_deferring(operator: Any, context: Any, timeout: float = 60.0) -> tuple[Any, list[dict[str, Any]]]:
    """Run ``operator`` as Airflow runs a deferrable task: ``execute``; while it defers, run its trigger
    (rebuilt from its serialized form) to its first event, then call the resume method with the event's
    payload passed through JSON. Return the task's result and every event (payloads)."""
    import asyncio
    import time

    from airflow.sdk.exceptions import TaskDeferred

    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    step: Any = lambda: operator.execute(context)  # noqa: E731
    while True:
        try:
            return step(), events
        except TaskDeferred as deferred:
            trigger = rebuilt(deferred.trigger)
            left = deadline - time.monotonic()
            assert left > 0, f"{operator.task_id} still deferring after {timeout} s: {events[-3:]}"
            event = asyncio.run(first_event(trigger, left))
            payload = json.loads(json.dumps(event.payload))
            events.append(payload)
            method = getattr(operator, deferred.method_name)
            step = lambda m=method, p=payload: m(context, p)  # noqa: E731
