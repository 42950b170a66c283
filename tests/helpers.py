"""Small helpers shared by the test layers (no fixtures here)."""

from __future__ import annotations

import json
import socket
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
    ``role`` (``viewer``, ``user``, ``op``, ``admin``): authorization runs for real, authentication is skipped."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from airflow.api_fastapi.core_api.security import get_user

    from courier.api.app import create_app

    init_auth_manager()
    app = create_app()
    app.dependency_overrides[get_user] = lambda: SimpleAuthManagerUser(username=username, role=role)
    return app


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
