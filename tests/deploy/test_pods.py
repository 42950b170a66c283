"""Every pod Courier launches in ``execution_mode = kubernetes``, built by the real provider code and run for real.

The pods come from the DAG files parsed with the ``[courier]`` settings the chart renders (tests/deploy/helm.py):
each ``KubernetesPodOperator`` task is unmapped as a worker would and ``build_pod_request_obj()`` builds its
Pod, which ``kubernetes-validate --strict`` checks against the Kubernetes version DEPLOY.md targets. Then the
pod's container runs with ``docker run`` (tests/deploy/podrun.py) in the image it names — the Courier image
built by the ``courier_image`` fixture — with its command, args and environment, the connections as the
``courier-secrets`` secret of DEPLOY.md holds them, against upstreams on the host's loopback: the demo paged
API, the embedded PostgreSQL, S3 over its protocol (moto). What it wrote to storage must equal what the
``local``-mode task writes.

No cluster: the kubelet, the Kubernetes API calls of ``KubernetesPodOperator`` and the RBAC are not exercised
(see docs/DEPLOY.md, "What was and was not checked").
"""

from __future__ import annotations

import configparser
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helm import (
    docs_create_secret_key,
    install_command,
    kubernetes_validate,
    render,
    target_kubernetes_version,
)
from tests.deploy.podrun import docker_run_argv, pod_dict
from tests.helpers import aws_connection_json, s3_client
from tests.integration import conftest as integration
from tests.integration.pages import conftest as pages
from tests.integration.pages.test_fetch import s3_text

# The integration layer's fixtures: PostgreSQL, the S3 server, the demo paged API (all on the host's loopback).
postgres, courier_db = integration.postgres, integration.courier_db
s3_server, s3_bucket = integration.s3_server, integration.s3_bucket
demo_server, paged_api = pages.demo_server, pages.paged_api

REPO = Path(__file__).resolve().parents[2]
POD_TASKS = {("paginated_fanout", "fetch_batch"), ("spec_matrix", "worker")}
SAMPLE_KWARGS: dict[tuple[str, str], dict[str, Any]] = {
    ("paginated_fanout", "fetch_batch"): {
        "batch_path": "s3://courier-data/courier/pages/paginated_fanout/run1/batches/batch-0000.json",
        "out_path": "s3://courier-data/courier/pages/paginated_fanout/run1/parts/part-0000.csv",
        "batch_label": "batch 1/1 · pages 0-9",
    },
    ("spec_matrix", "worker"): {
        "run_id": "manual__1",
        "worker_label": "worker 1/1",
        "lease_seconds": 30.0,
        "storage_base": None,
    },
}


def chart_courier_settings() -> dict[str, str]:
    """``[courier]`` as the chart's airflow.cfg gives it to every component, as AIRFLOW__COURIER__* variables."""
    rendered = render(install_command())
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(rendered.config_map()["data"]["airflow.cfg"])
    return {f"AIRFLOW__COURIER__{key.upper()}": value for key, value in parser.items("courier")}


def pod_tasks(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> dict[tuple[str, str], Any]:
    """Every task of the DAG files that is a KubernetesPodOperator, parsed with ``settings``."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    found = {}
    for dag_id, dag in bag.dags.items():
        for task in dag.tasks:
            cls = getattr(task, "operator_class", type(task))
            if isinstance(cls, type) and issubclass(cls, KubernetesPodOperator):
                found[(dag_id, task.task_id)] = task
    return found


def build_pods(task: Any, kwargs_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [pod_dict(task.unmap(kwargs).build_pod_request_obj(dry_run=True)) for kwargs in kwargs_list]


def docs_create_service_account(name: str | None) -> bool:
    """Whether DEPLOY.md creates the service account ``name`` (`kubectl -n airflow create serviceaccount NAME`)."""
    import re

    doc = (REPO / "docs" / "DEPLOY.md").read_text()
    return bool(name) and f"create serviceaccount {name}\n" in re.sub(r"kubectl (-n \S+ )?", "kubectl ", doc)


def docs_secrets(**values: str) -> dict[str, dict[str, str]]:
    """The ``courier-secrets`` secret with the keys DEPLOY.md creates (values for this test's upstreams)."""
    keys = [
        "AIRFLOW_CONN_COURIER_DB",
        "AIRFLOW_CONN_AWS_DEFAULT",
        "AIRFLOW_CONN_REPORT_API_DEFAULT",
        "AIRFLOW_CONN_PAGED_API_DEFAULT",
        "AIRFLOW_CONN_JOBS_API_DEFAULT",
        "AIRFLOW_CONN_SPEC_SITE_DEFAULT",
        "AIRFLOW__COURIER__WEBHOOK_SECRET",
    ]
    assert all(docs_create_secret_key("courier-secrets", key) for key in keys)
    secret = {key: values.get(key, "http://127.0.0.1:9") for key in keys}
    return {"courier-secrets": secret}


# --- built and validated (no Docker) -------------------------------------------------------------------------


def test_every_pod_the_dags_start_is_built_and_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    settings = chart_courier_settings()
    tasks = pod_tasks(monkeypatch, settings)
    assert set(tasks) == POD_TASKS, f"the DAGs start pods in {sorted(tasks)}; this test covers {sorted(POD_TASKS)}"
    pods = []
    for key, task in sorted(tasks.items()):
        (pod,) = build_pods(task, [SAMPLE_KWARGS[key]])
        assert pod["kind"] == "Pod" and pod["apiVersion"] == "v1"
        assert pod["metadata"]["namespace"] == settings["AIRFLOW__COURIER__NAMESPACE"] == "airflow"
        # its own service account, created by DEPLOY.md, and no token: no Courier pod calls the Kubernetes API
        assert pod["spec"]["automountServiceAccountToken"] is False
        assert docs_create_service_account(pod["spec"]["serviceAccountName"]), pod["spec"].get("serviceAccountName")
        assert task.unmap(SAMPLE_KWARGS[key]).deferrable is True
        container = pod["spec"]["containers"][0]
        assert container["image"] == settings["AIRFLOW__COURIER__WORKER_IMAGE"] == "airflow-courier:0.1.0"
        assert all("value" not in e for e in container["env"] if e["name"].startswith("AIRFLOW_CONN_"))
        for env in container["env"]:
            ref = (env.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert docs_create_secret_key(ref["name"], ref["key"]), f"{key}: DEPLOY.md never creates {ref}"
        docker_run_argv(pod, docs_secrets(), inspect_image=False)  # nothing it cannot reproduce
        pods.append(pod)
    result = kubernetes_validate(pods, target_kubernetes_version(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- run in the image ------------------------------------------------------------------------------------------


def run_pod(pod: dict[str, Any], secrets: dict[str, dict[str, str]], *extra: str) -> subprocess.CompletedProcess[str]:
    argv = docker_run_argv(pod, secrets, extra_args=extra)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(argv[-6:])} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.mark.usefixtures("docker_engine")
def test_fetch_batch_pods_in_the_image_write_what_local_tasks_write(
    courier_image: str, paged_api: str, s3_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from courier.pages.batch import run_batch
    from courier.pages.fanout import FanoutRequest, list_and_plan, merge

    params = {"query": {"pages": 40, "rows": 5, "latency_ms": 5, "fail_429": "3", "retry_after": 0.2}, "batch_size": 15}
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", f"s3://{s3_bucket}")  # both runs write under it

    def fanout(storage: str, run_id: str) -> tuple[FanoutRequest, list[dict[str, str]]]:
        request = FanoutRequest.from_params({**params, "storage_base": storage})
        return request, list_and_plan(request, "paginated_fanout", run_id)

    # local mode: the batch task calls run_batch in the worker
    local_request, local_batches = fanout(f"s3://{s3_bucket}/local", "run-1")
    for batch in local_batches:
        run_batch(batch["batch_path"], batch["out_path"])
    local = merge(local_request, "paginated_fanout", "run-1")

    # kubernetes mode: each batch's pod runs in the image
    storage = f"s3://{s3_bucket}/pods"
    settings = {
        **chart_courier_settings(),
        "AIRFLOW__COURIER__WORKER_IMAGE": courier_image,
        "AIRFLOW__COURIER__STORAGE_BASE": storage,
    }
    pod_request, pod_batches = fanout(storage, "run-1")
    assert len(pod_batches) == len(local_batches) == 3
    pods = build_pods(pod_tasks(monkeypatch, settings)[("paginated_fanout", "fetch_batch")], pod_batches)
    secrets = docs_secrets(
        AIRFLOW_CONN_PAGED_API_DEFAULT=paged_api,
        AIRFLOW_CONN_AWS_DEFAULT=aws_connection_json(s3_server),
        AIRFLOW_CONN_COURIER_DB="postgresql://courier:unused@127.0.0.1:9/courier",
    )
    for pod, batch in zip(pods, pod_batches, strict=True):
        assert pod["spec"]["containers"][0]["image"] == courier_image
        done = run_pod(pod, secrets)
        summary = json.loads(done.stdout.strip().splitlines()[-1])
        assert summary["part"] == batch["out_path"] and summary["failed_pages"] == 0
    in_pods = merge(pod_request, "paginated_fanout", "run-1")

    assert (in_pods["pages"], in_pods["rows"], in_pods["failed_pages"]) == (40, 200, 0)
    assert {k: v for k, v in in_pods.items() if k not in ("report", "manifest")} == {
        k: v for k, v in local.items() if k not in ("report", "manifest")
    }
    assert s3_text(s3_server, in_pods["report"]) == s3_text(s3_server, local["report"])


SPEC_CELLS = [  # what each cell's command checks inside the container; exit 77 = skipped
    {"id": "env", "run": ["sh", "-c", 'test -n "$COURIER_SPEC_BASE_URL" && test "$COURIER_SPEC_BROWSER" = chromium']},
    {"id": "python", "run": ["python", "-c", "import courier, airflow; print('ok')"]},
    {"id": "artifact", "run": ["sh", "-c", 'echo "$COURIER_SPEC_ID" > "$COURIER_SPEC_ARTIFACTS/out.txt"']},
    {"id": "skipped", "run": ["sh", "-c", "exit 77"]},
    {"id": "broken", "run": ["sh", "-c", "exit 3"]},
]


def _cells(run_id: str) -> list[tuple[str, str, str, str, list[tuple[str, int | None]]]]:
    from courier.specs.store import SpecQueue

    return [
        (c["spec_id"], c["browser"], c["viewport"], c["status"], [(a["status"], a["exit_code"]) for a in c["attempts"]])
        for c in SpecQueue().cells(run_id)
    ]


def _keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"].removeprefix(prefix) for o in listing.get("Contents", []))


@pytest.mark.usefixtures("docker_engine")
def test_spec_worker_pods_in_the_image_record_what_local_workers_record(
    courier_image: str,
    courier_db: str,
    s3_server: str,
    s3_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from courier.specs.enqueue import SpecRunRequest, plan_run
    from courier.specs.worker import run_worker

    spec_list = tmp_path / "specs" / "specs.json"
    spec_list.parent.mkdir()
    monkeypatch.setenv("AIRFLOW__COURIER__SPEC_ROOTS", str(spec_list.parent))  # a list is run only from a root
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", f"s3://{s3_bucket}")  # both runs write under it
    spec_list.write_text(
        json.dumps({"browsers": ["chromium"], "viewports": {"desktop": [1280, 800]}, "specs": SPEC_CELLS})
    )

    def plan(run_id: str, storage: str) -> list[dict[str, Any]]:
        request = SpecRunRequest(
            spec_list=str(spec_list), workers=2, base_url="http://127.0.0.1:9", storage_base=storage
        )
        return list(plan_run(run_id, request)["workers"])

    local_storage, pod_storage = f"s3://{s3_bucket}/local", f"s3://{s3_bucket}/pods"
    for worker in plan("local-run", local_storage):
        run_worker(worker["run_id"], label="local", lease_seconds=30.0, storage_base=local_storage)

    settings = {**chart_courier_settings(), "AIRFLOW__COURIER__WORKER_IMAGE": courier_image}
    workers = plan("pod-run", pod_storage)
    pods = build_pods(pod_tasks(monkeypatch, settings)[("spec_matrix", "worker")], workers)
    secrets = docs_secrets(AIRFLOW_CONN_COURIER_DB=courier_db, AIRFLOW_CONN_AWS_DEFAULT=aws_connection_json(s3_server))
    # The one addition to the pod: the folder of the spec list, which the plan recorded as the cells' working
    # directory (on a cluster, the list and its checks are in the image, in the installed wheel, courier/include).
    folder = str(spec_list.parent)
    for pod in pods:
        run_pod(pod, secrets, "--volume", f"{folder}:{folder}:ro")

    local_cells, pod_cells = _cells("local-run"), _cells("pod-run")
    assert {c[0]: c[3] for c in pod_cells} == {
        "env": "passed",
        "python": "passed",
        "artifact": "passed",
        "skipped": "skipped",
        "broken": "failed",
    }
    assert sorted(pod_cells) == sorted(local_cells)  # (the queue orders the second run by the first's durations)
    local_keys = _keys(s3_server, s3_bucket, "local/specs/spec_matrix/local-run/")
    pod_keys = _keys(s3_server, s3_bucket, "pods/specs/spec_matrix/pod-run/")
    assert pod_keys == local_keys and any(k.endswith("out.txt") for k in pod_keys), pod_keys


@pytest.mark.usefixtures("docker_engine")
def test_the_charts_courier_migrate_init_container_runs_in_the_image(courier_image: str, courier_db: str) -> None:
    """The init container helm-values.yaml adds to every component, run as its pod would start it: through the
    image's entrypoint (the official one hands a first word other than bash/python to `airflow`)."""
    from courier.db.migrate import latest_version

    rendered = render(install_command())
    deployment = rendered.get("Deployment", f"{rendered.command.release}-api-server")
    (init,) = [c for c in deployment["spec"]["template"]["spec"]["initContainers"] if c["name"] == "courier-db-migrate"]
    assert init["image"] == "airflow-courier:0.1.0"
    pod = {"spec": {"containers": [{**init, "image": courier_image}]}}  # the tag this machine built
    secrets = docs_secrets(AIRFLOW_CONN_COURIER_DB=courier_db)
    first, again = run_pod(pod, secrets), run_pod(pod, secrets)
    assert f"schema version {latest_version()}" in first.stdout, first.stdout
    assert "applied" not in again.stdout and f"schema version {latest_version()}" in again.stdout, again.stdout
