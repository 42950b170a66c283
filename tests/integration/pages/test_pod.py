"""Kubernetes mode, the pod's side: run each rendered pod's command line locally as its container would.

The pods are rendered from the parsed DAG in ``kubernetes`` mode (no cluster). Each container's
``command + args`` is run as a process whose environment is only what the pod declares — plain values as
given, ``secretKeyRef`` values looked up in a stand-in for the ``courier-secrets`` secret — plus what the
image provides (``PATH``, ``HOME``, ``AIRFLOW_HOME``). It fetches from the demo API and writes to the local
S3 server; the merge then finds every page.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from courier.pages.fanout import FanoutRequest, list_and_plan, merge
from tests.helpers import aws_connection_json
from tests.integration.pages.test_fetch import expected_rows, s3_text
from tests.unit.pages.test_kubernetes import K8S_SETTINGS, render_pods


def container_env(container: Any, secret: dict[str, str], image_env: dict[str, str]) -> dict[str, str]:
    """Build the environment Kubernetes would give ``container``, resolving secret references in ``secret``."""
    env = dict(image_env)
    for var in container.env or []:
        if var.value_from is None:
            env[var.name] = var.value
            continue
        ref = var.value_from.secret_key_ref
        assert ref.name == "courier-secrets", f"{var.name} reads an unexpected secret {ref.name}"
        env[var.name] = secret[ref.key]  # a missing key would keep the real pod from starting
    assert not container.env_from, "the pod must not import whole secrets"
    return env


@pytest.mark.usefixtures("paged_api")
def test_rendered_pods_fetch_their_batches_when_run_as_the_container_would(
    s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    demo_url = os.environ["AIRFLOW_CONN_PAGED_API_DEFAULT"]  # set by the paged_api fixture
    storage = f"s3://{s3_bucket}/k8s"
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", f"s3://{s3_bucket}")  # a run's base lies under it
    params = {"query": {"pages": 30, "rows": 4, "latency_ms": 5, "fail_429": "2", "retry_after": 0.2}, "batch_size": 15}
    request = FanoutRequest.from_params({**params, "storage_base": storage})
    batches = list_and_plan(request, "paginated_fanout", "run-pods")
    assert len(batches) == 2
    pods = render_pods(monkeypatch, batches, {**K8S_SETTINGS, "AIRFLOW__COURIER__STORAGE_BASE": storage})

    secret = {  # what docs/DEPLOY.md puts in the courier-secrets secret (only these keys are read)
        "AIRFLOW_CONN_PAGED_API_DEFAULT": demo_url,
        "AIRFLOW_CONN_AWS_DEFAULT": aws_connection_json(s3_server),
        "AIRFLOW_CONN_COURIER_DB": "postgresql://must-not-reach-the-pod",
    }
    image_env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
    }
    for pod, batch in zip(pods, batches, strict=True):
        container = pod.spec.containers[0]
        env = container_env(container, secret, image_env)
        assert "AIRFLOW_CONN_COURIER_DB" not in env
        done = subprocess.run(
            [*container.command, *container.args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert (summary["pages"], summary["pages_ok"], summary["failed_pages"]) == (15, 15, 0)
        assert summary["part"] == batch["out_path"]

    outcome = merge(request, "paginated_fanout", "run-pods")
    assert (outcome["pages"], outcome["rows"], outcome["failed_pages"]) == (30, 120, 0)
    rows = list(csv.DictReader(io.StringIO(s3_text(s3_server, outcome["report"]))))
    assert rows == expected_rows(range(30), 4, 1)
    manifest = json.loads(s3_text(s3_server, outcome["manifest"]))
    assert manifest["statuses"] == {"200": 30, "429": 1}
