"""Courier's pods, for every domain: what each ``KubernetesPodOperator`` shares, and the ``execution_mode`` switch.

A domain step that can run in a pod (``pages``' batches, ``specs``' workers) has a local operator and a pod
operator taking the same mapped kwargs; :func:`mapped_by_mode` picks one by ``[courier] execution_mode`` at
parse time, so the DAG does not know which one it got. :func:`pod_arguments` builds what every Courier pod
has in common: the worker image and namespace, the connections it needs as ``AIRFLOW_CONN_*`` variables,
each read from its key of the ``courier-secrets`` Kubernetes secret (the one docs/DEPLOY.md creates; the
secret's other keys stay out of the pod), ``[courier] storage_base``, a non-root user without privilege
escalation, and requests and limits; no service account token (no Courier pod calls the Kubernetes API),
and ``deferrable`` (the pod is watched from the triggerer, not from a worker slot). Per domain,
``[courier] <domain>_pod`` (JSON) places the pod in a real cluster: its service account, resources, node
selector, tolerations, affinity, image pull secrets, or a whole pod template file. The Kubernetes client is imported only when a pod is built (it is slow
to import, and every task parses its DAG file).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.xcom_arg import XComArg

    from courier.config import CourierConfig

SECRET_NAME = "courier-secrets"
POD_LABELS = {"app.kubernetes.io/name": "courier", "app.kubernetes.io/part-of": "airflow-courier"}


def connection_env(conn_id: str) -> str:
    """Return the variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def pod_arguments(
    config: CourierConfig,
    *,
    name: str,
    component: str,
    connections: Sequence[str],
    resources: Mapping[str, Mapping[str, str]],
    startup_timeout: int = 300,
    secret_name: str = SECRET_NAME,
    placement: Mapping[str, Any] | None = None,
    talks_to_kubernetes: bool = False,
) -> dict[str, Any]:
    """Return the ``KubernetesPodOperator`` arguments of a Courier pod running the ``courier`` command.

    :param config: Courier settings (image, namespace, storage base).
    :param name: the pod's name.
    :param component: its ``app.kubernetes.io/component`` label.
    :param connections: connection ids the pod gets, each from its key of ``secret_name``.
    :param resources: the container's ``requests`` and ``limits``.
    :param startup_timeout: seconds the pod may take to start (an image pull included).
    :param secret_name: the Kubernetes secret holding the connections.
    :param placement: the domain's ``[courier] <domain>_pod`` settings (service account, resources, node
        selector, tolerations, affinity, image pull secrets, pod template file); unset keys keep the defaults.
    :param talks_to_kubernetes: whether the pod calls the Kubernetes API; only then is the service account's
        token mounted (no Courier pod does: a pod's token is a credential nothing in it needs).
    """
    from kubernetes.client import models as k8s

    secret_env = [
        k8s.V1EnvVar(
            name=connection_env(conn_id),
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=connection_env(conn_id))
            ),
        )
        for conn_id in connections
    ]
    placement = placement or {}
    wanted = {**resources, **placement.get("resources", {})}
    extra: dict[str, Any] = {}
    if placement.get("service_account"):
        extra["service_account_name"] = placement["service_account"]
    if placement.get("node_selector"):
        extra["node_selector"] = dict(placement["node_selector"])
    if placement.get("tolerations"):
        # as in a pod's YAML (camelCase): the provider reads them with the Kubernetes client's deserializer
        extra["tolerations"] = list(placement["tolerations"])
    if placement.get("affinity"):
        extra["affinity"] = dict(placement["affinity"])
    if placement.get("image_pull_secrets"):
        extra["image_pull_secrets"] = [k8s.V1LocalObjectReference(name=n) for n in placement["image_pull_secrets"]]
    if placement.get("pod_template_file"):
        extra["pod_template_file"] = placement["pod_template_file"]
    return extra | {
        "image": config.worker_image,
        "namespace": config.namespace,
        "name": name,
        "cmds": ["courier"],
        "env_vars": [
            k8s.V1EnvVar(name="AIRFLOW__COURIER__STORAGE_BASE", value=config.storage_base),
            k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
            *secret_env,
        ],
        "container_resources": k8s.V1ResourceRequirements(**wanted),
        "automount_service_account_token": talks_to_kubernetes,
        # wait for the pod in the triggerer, not in a worker slot (with KubernetesExecutor: not in a task pod)
        "deferrable": True,
        "labels": {**POD_LABELS, "app.kubernetes.io/component": component},
        "kubernetes_conn_id": "kubernetes_default",
        "image_pull_policy": "IfNotPresent",
        "security_context": k8s.V1PodSecurityContext(run_as_non_root=True),
        "container_security_context": k8s.V1SecurityContext(
            allow_privilege_escalation=False, capabilities=k8s.V1Capabilities(drop=["ALL"])
        ),
        "get_logs": True,
        "do_xcom_push": False,  # results are written to object storage; no sidecar needed
        "on_finish_action": "delete_succeeded_pod",  # keep a failed pod for `kubectl logs/describe`
        "startup_timeout_seconds": startup_timeout,
    }


PodStep = Callable[["CourierConfig"], tuple[type["BaseOperator"], dict[str, Any]]]
"""Given the settings, return the pod operator class and its :func:`pod_arguments` (imported only when asked)."""


def mapped_by_mode(
    expand: XComArg,
    local: type[BaseOperator],
    pod: PodStep,
    map_index_template: str,
    *,
    task_id: str,
    config: CourierConfig | None = None,
    pool: Callable[[CourierConfig], tuple[str, int]] | None = None,
    **kwargs: Any,
) -> MappedOperator:
    """Return ``local`` or the pod operator, mapped over ``expand``, by ``[courier] execution_mode``.

    :param expand: the list of kwargs to map over (one task or pod per item).
    :param local: the operator for ``execution_mode = local``.
    :param pod: what builds the operator for ``execution_mode = kubernetes``.
    :param map_index_template: the mapped instances' names in the UI.
    :param task_id: the step's task id.
    :param config: Courier settings (default: read ``[courier]``, which is configuration, not I/O).
    :param pool: the step's Airflow pool and its slots, from the settings: every mapped task takes a slot of
        it, at most ``slots`` run at once across runs and at most half of them in one run.
    :param kwargs: more operator arguments for every mapped task (e.g. ``retries``, pod overrides).
    """
    from courier.config import load

    settings = config or load()
    operator, arguments = pod(settings) if settings.execution_mode == "kubernetes" else (local, {})
    if pool is not None:  # the step's pool, and no run may hold more than half of it
        name, slots = pool(settings)
        kwargs = {
            "pool": name,
            "max_active_tis_per_dag": slots,
            "max_active_tis_per_dagrun": max(1, slots // 2),
        } | kwargs
    partial = operator.partial(task_id=task_id, map_index_template=map_index_template, **{**arguments, **kwargs})
    return partial.expand_kwargs(expand)  # type: ignore[no-any-return]
