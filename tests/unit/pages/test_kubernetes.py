"""Kubernetes mode without a cluster: the DAG's batch step renders pods that run ``courier pages fetch-batch``.

The pods are rendered from the parsed ``paginated_fanout`` DAG exactly as a worker would unmap each mapped
task (``MappedOperator.unmap`` with the plan's kwargs), with ``build_pod_request_obj(dry_run=True)``, then
round-tripped through the Kubernetes client's models. Running their command line is in
``tests/integration/pages/test_pod.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO

BATCHES = [
    {
        "batch_path": f"s3://bucket/c/pages/paginated_fanout/run1/batches/batch-000{i}.json",
        "out_path": f"s3://bucket/c/pages/paginated_fanout/run1/parts/part-000{i}.csv",
        "batch_label": f"batch {i + 1}/2 · pages {i * 10}-{i * 10 + 9}",
    }
    for i in range(2)
]
K8S_SETTINGS = {
    "AIRFLOW__COURIER__EXECUTION_MODE": "kubernetes",
    "AIRFLOW__COURIER__WORKER_IMAGE": "registry.example.com/airflow-courier:1.2.3",
    "AIRFLOW__COURIER__NAMESPACE": "courier-jobs",
    "AIRFLOW__COURIER__STORAGE_BASE": "s3://bucket/c",
}


def parse_fanout(monkeypatch: pytest.MonkeyPatch, settings: dict[str, str]) -> Any:
    """Parse ``dags/paginated_fanout.py`` with ``[courier]`` settings from the environment; return the DAG."""
    from tests.helpers import dag_bag

    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    bag = dag_bag(dag_folder=str(REPO / "dags" / "paginated_fanout.py"))
    assert bag.import_errors == {}
    return bag.dags["paginated_fanout"]


def render_pods(monkeypatch: pytest.MonkeyPatch, batches: list[dict[str, str]], settings: dict[str, str]) -> list[Any]:
    """Render the V1Pod of each batch, as the mapped ``fetch_batch`` task would create it, with no cluster."""
    mapped = parse_fanout(monkeypatch, settings).get_task("fetch_batch")
    return [mapped.unmap(batch).build_pod_request_obj(dry_run=True) for batch in batches]


def env_of(container: Any) -> dict[str, Any]:
    return {var.name: var.value if var.value_from is None else var.value_from for var in container.env}


@pytest.fixture
def pods(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    return render_pods(monkeypatch, BATCHES, K8S_SETTINGS)


def test_kubernetes_mode_maps_pod_operators_with_readable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.pages.pod import FetchBatchPodOperator

    mapped = parse_fanout(monkeypatch, K8S_SETTINGS).get_task("fetch_batch")
    assert mapped.operator_class is FetchBatchPodOperator
    assert mapped.map_index_template == "{{ task.batch_label }}"
    assert mapped.unmap(BATCHES[1]).batch_label == "batch 2/2 · pages 10-19"


def test_local_mode_maps_plain_tasks_with_the_same_kwargs(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier.pages.operators import FetchBatchOperator

    mapped = parse_fanout(monkeypatch, {"AIRFLOW__COURIER__EXECUTION_MODE": "local"}).get_task("fetch_batch")
    assert mapped.operator_class is FetchBatchOperator
    assert mapped.map_index_template == "{{ task.batch_label }}"
    task = mapped.unmap(BATCHES[0])
    assert (task.batch_path, task.out_path, task.batch_label) == tuple(BATCHES[0].values())


def test_pod_image_namespace_command_and_arguments(pods: list[Any]) -> None:
    for pod, batch in zip(pods, BATCHES, strict=True):
        assert pod.metadata.namespace == "courier-jobs"
        assert pod.metadata.name.startswith("courier-fetch-batch-")
        assert pod.spec.restart_policy == "Never"
        [container] = pod.spec.containers
        assert container.image == "registry.example.com/airflow-courier:1.2.3"
        assert container.command == ["courier"]
        assert container.args == ["pages", "fetch-batch", "--batch", batch["batch_path"], "--out", batch["out_path"]]
    assert pods[0].metadata.name != pods[1].metadata.name


def test_pod_arguments_are_what_the_courier_cli_accepts(pods: list[Any]) -> None:
    from courier.cli import build_parser
    from courier.pages.cli import _fetch_batch

    container = pods[0].spec.containers[0]
    args = build_parser().parse_args(container.args)
    assert args.func is _fetch_batch
    assert (args.batch, args.out) == (BATCHES[0]["batch_path"], BATCHES[0]["out_path"])


def test_pod_env_carries_only_the_connections_it_needs_from_the_secret(pods: list[Any]) -> None:
    container = pods[0].spec.containers[0]
    env = env_of(container)
    assert env["AIRFLOW__COURIER__STORAGE_BASE"] == "s3://bucket/c"
    for name in ("AIRFLOW_CONN_PAGED_API_DEFAULT", "AIRFLOW_CONN_AWS_DEFAULT"):
        ref = env[name].secret_key_ref
        assert (ref.name, ref.key) == ("courier-secrets", name)
    secret_refs = {n for n, v in env.items() if not isinstance(v, str)}
    assert secret_refs == {"AIRFLOW_CONN_PAGED_API_DEFAULT", "AIRFLOW_CONN_AWS_DEFAULT"}  # not courier_db etc.
    assert not container.env_from


def test_pod_resources_labels_and_security(pods: list[Any]) -> None:
    pod = pods[0]
    container = pod.spec.containers[0]
    assert container.resources.requests == {"cpu": "250m", "memory": "256Mi"}
    assert container.resources.limits == {"cpu": "1", "memory": "512Mi"}
    labels = pod.metadata.labels
    assert labels["app.kubernetes.io/name"] == "courier"
    assert labels["app.kubernetes.io/component"] == "pages-fetch-batch"
    assert labels["app.kubernetes.io/part-of"] == "airflow-courier"
    assert "airflow_version" in labels
    assert pod.spec.security_context.run_as_non_root is True
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert [c.name for c in pod.spec.containers] == ["base"]  # no XCom sidecar: results go to object storage


def test_pods_load_into_the_kubernetes_client_models(pods: list[Any]) -> None:
    from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator
    from kubernetes.client import ApiClient
    from kubernetes.client.models import V1Pod

    for pod in pods:
        document = ApiClient().sanitize_for_serialization(pod)
        assert document["kind"] == "Pod" and document["apiVersion"] == "v1"
        loaded = PodGenerator.deserialize_model_dict(document)
        assert isinstance(loaded, V1Pod)
        assert ApiClient().sanitize_for_serialization(loaded) == document  # nothing lost or unknown
        assert loaded.spec.containers[0].args == pod.spec.containers[0].args
        env = document["spec"]["containers"][0]["env"]
        assert {
            "name": "AIRFLOW_CONN_AWS_DEFAULT",
            "valueFrom": {"secretKeyRef": {"key": "AIRFLOW_CONN_AWS_DEFAULT", "name": "courier-secrets"}},
        } in env


def test_pods_are_deferrable_and_carry_no_service_account_token(monkeypatch: pytest.MonkeyPatch) -> None:
    mapped = parse_fanout(monkeypatch, K8S_SETTINGS).get_task("fetch_batch")
    task = mapped.unmap(BATCHES[0])
    assert task.deferrable is True  # watched from the triggerer: no worker slot (no task pod) held
    pod = task.build_pod_request_obj(dry_run=True)
    assert pod.spec.automount_service_account_token is False  # the pod never calls the Kubernetes API


PLACEMENT = {
    "service_account": "courier-pages",
    "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    "node_selector": {"workload": "batch"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "batch", "effect": "NoSchedule"}],
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}]
            }
        }
    },
    "image_pull_secrets": ["registry-login"],
}


def test_the_pages_pod_setting_places_the_pod_in_the_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from kubernetes.client import ApiClient

    settings = {**K8S_SETTINGS, "AIRFLOW__COURIER__PAGES_POD": json.dumps(PLACEMENT)}
    (pod,) = render_pods(monkeypatch, BATCHES[:1], settings)
    spec = ApiClient().sanitize_for_serialization(pod)["spec"]
    assert spec["serviceAccountName"] == "courier-pages" and spec["automountServiceAccountToken"] is False
    assert spec["nodeSelector"] == {"workload": "batch"}
    assert spec["tolerations"] == PLACEMENT["tolerations"]
    assert spec["affinity"] == PLACEMENT["affinity"]
    assert spec["imagePullSecrets"] == [{"name": "registry-login"}]
    assert spec["containers"][0]["resources"] == PLACEMENT["resources"]


@pytest.mark.parametrize(
    "raw",
    ['{"service_acount": "x"}', "[1]", '{"resources": {"limit": {}}}', '{"pod_template_file": "rel.yaml"}', "{"],
)
def test_a_bad_pod_setting_is_refused_naming_it(raw: str) -> None:
    from courier.config import CourierConfigError, parse_value

    with pytest.raises(CourierConfigError, match=r"\[courier\] pages_pod"):
        parse_value("pages_pod", raw)
