"""End-to-end fixture: the real stack (PostgreSQL, Airflow api-server/scheduler/dag-processor/triggerer,
demo upstream), started once per session through the same :class:`courier.runtime.stack.Stack` that
``courier up`` uses, plus a local S3 server whose bucket the stack can use through ``aws_default``."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.helpers import StatsdListener, aws_connection_json, free_port, s3_client


@pytest.fixture(scope="session")
def e2e_s3() -> Iterator[tuple[str, str]]:
    """(endpoint URL, bucket) of a moto server for the stack."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    bucket = f"courier-e2e-{uuid.uuid4().hex[:8]}"
    s3_client(url).create_bucket(Bucket=bucket)
    yield url, bucket
    server.stop()


def dags_with_test_dags(folder: Path) -> Path:
    """Courier's DAG files and the e2e-only ones of ``tests/e2e/dags`` (never shipped) in one folder."""
    import shutil

    from courier.runtime.stack import courier_dag_files, default_dags_folder

    folder.mkdir()
    for source in [*courier_dag_files(default_dags_folder()), *courier_dag_files(Path(__file__).parent / "dags")]:
        shutil.copy2(source, folder / source.name)
    return folder


@pytest.fixture(scope="session")
def statsd() -> Iterator[StatsdListener]:
    """The StatsD server every component of the stack sends its metrics to ([metrics] statsd_on, as a deployment
    configures it): Courier's names are kept (tests/e2e/test_metrics.py), Airflow's are dropped on arrival."""
    listener = StatsdListener(prefix="airflow.courier.")
    yield listener
    listener.close()


@pytest.fixture(scope="session")
def stack(e2e_s3: tuple[str, str], statsd: StatsdListener) -> Iterator[Stack]:
    """The running stack; stopping it at the end must leave no process behind."""
    home = Path(tempfile.mkdtemp(prefix="courier-e2e-"))
    spec_root = home / "e2e-specs"  # where tests deploy their own spec lists (a spec list is code)
    spec_root.mkdir()
    running = Stack(
        home=home,
        dags_folder=dags_with_test_dags(home / "dags"),
        port=free_port(),
        extra_env={
            "AIRFLOW_CONN_AWS_DEFAULT": aws_connection_json(e2e_s3[0]),
            # the bases a run's storage_base may name besides the local one: the bucket, and a missing one
            # (test_stack: a bad storage the admin allowed is reported as not usable)
            "AIRFLOW__COURIER__SPEC_ROOTS": str(spec_root),
            "AIRFLOW__COURIER__RUN_STORAGE_BASES": f"s3://{e2e_s3[1]},s3://{e2e_s3[1]}-does-not-exist",
            # webhooks only to this machine: the API fuzzer creates timers with generated URLs
            "AIRFLOW__COURIER__WEBHOOK_ALLOWED_HOSTS": "127.0.0.1,localhost",
            # metrics over StatsD to the session's listener (UDP on loopback: nothing waits on it)
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
            "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
        },
        progress=lambda line: print(line, flush=True),
    )
    running.start()
    yield running
    running.stop()
    left = running.leftovers()
    assert not left, f"processes left behind after stopping the stack: {left}"


@pytest.fixture(scope="session")
def api(stack: Stack) -> Iterator[AirflowApi]:
    client = stack.api()
    yield client
    client.close()
