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
