"""Kubernetes mode without a cluster: ``spec_matrix``'s workers render pods running ``courier specs work``."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO

K8S_SETTINGS = {
    "AIRFLOW__COURIER__EXECUTION_MODE": "kubernetes",
    "AIRFLOW__COURIER__WORKER_IMAGE": "registry.example.com/airflow-courier:1.2.3",
    "AIRFLOW__COURIER__NAMESPACE": "courier-jobs",
}
WORKERS = [
    {"run_id": "manual__1", "worker_label": f"worker {i + 1}/2", "lease_seconds": 30.0, "storage_base": None}
    for i in range(2)
]


def _dag(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> Any:
    from tests.helpers import dag_bag

    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    bag = dag_bag(dag_folder=str(REPO / "dags" / "spec_matrix.py"))
    assert bag.import_errors == {}
    return bag.dags["spec_matrix"]


def test_kubernetes_mode_runs_courier_specs_work_in_the_worker_image(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.specs.pod import SpecWorkerPodOperator

    mapped = _dag(monkeypatch, K8S_SETTINGS).get_task("worker")
    assert mapped.operator_class is SpecWorkerPodOperator or mapped.operator_class.__name__ == "SpecWorkerPodOperator"
    pods = [mapped.unmap(w).build_pod_request_obj(dry_run=True) for w in WORKERS]
    container = pods[1].spec.containers[0]
    assert pods[1].metadata.namespace == "courier-jobs"
    assert container.image == "registry.example.com/airflow-courier:1.2.3"
    assert container.command == ["courier"]
    assert container.args == ["specs", "work", "--run-id", "manual__1", "--label", "w2of2", "--lease-seconds", "30"]
    env = {v.name: v for v in container.env}
    assert env["AIRFLOW_CONN_COURIER_DB"].value_from.secret_key_ref.key == "AIRFLOW_CONN_COURIER_DB"
    assert "AIRFLOW_CONN_PAGED_API_DEFAULT" not in env  # only what the worker needs
    assert container.resources.limits["memory"] == "2Gi"
    assert pods[1].metadata.labels["app.kubernetes.io/component"] == "spec-worker"


def test_local_mode_maps_plain_worker_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.specs.operators import SpecWorkerOperator

    dag = _dag(monkeypatch, {"AIRFLOW__COURIER__EXECUTION_MODE": "local"})
    worker = dag.get_task("worker")
    assert worker.operator_class is SpecWorkerOperator or worker.operator_class.__name__ == "SpecWorkerOperator"
    assert worker.map_index_template == "{{ task.worker_label }}"
    assert dag.tags and {"courier", "specs", "smoke"} <= set(dag.tags)
    assert dag.get_task("report").trigger_rule == "all_done"
    assert set(dag.params.keys()) >= {"spec_list", "workers", "base_url", "rerun_failed_of"}
    assert dag.params["workers"] == 4


def test_spec_pods_are_deferrable_tokenless_and_placed_by_specs_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    placement = {"service_account": "courier-specs", "node_selector": {"browsers": "yes"}, "image_pull_secrets": ["r"]}
    settings = {**K8S_SETTINGS, "AIRFLOW__COURIER__SPECS_POD": json.dumps(placement)}
    task = _dag(monkeypatch, settings).get_task("worker").unmap(WORKERS[0])
    assert task.deferrable is True
    pod = task.build_pod_request_obj(dry_run=True)
    assert pod.spec.automount_service_account_token is False
    assert pod.spec.service_account_name == "courier-specs"
    assert pod.spec.node_selector == {"browsers": "yes"}
    assert [s.name for s in pod.spec.image_pull_secrets] == ["r"]
    # the database URL comes from the secret, never as a literal in the pod spec
    env = {v.name: v for v in pod.spec.containers[0].env}
    assert env["AIRFLOW_CONN_COURIER_DB"].value is None
    assert env["AIRFLOW_CONN_COURIER_DB"].value_from.secret_key_ref.name == "courier-secrets"
    assert not any("postgres" in (v.value or "") for v in env.values())
