"""The batch step as a pod (``execution_mode = kubernetes``): ``courier pages fetch-batch`` in the worker image.

The pod gets exactly what :func:`courier.pages.batch.run_batch` needs and nothing more: the two
connections it uses (``paged_api_default`` for the API, ``aws_default`` for ``s3://`` storage) as
``AIRFLOW_CONN_*`` variables, each read from its key of the ``courier-secrets`` Kubernetes secret (the one
docs/DEPLOY.md creates; the secret's other keys, such as the Courier database URL, stay out of the pod),
plus ``[courier] storage_base``. It runs as a non-root user with no privilege escalation, with modest
requests and a memory limit (a batch holds one page in memory at a time; the rest is spooled to disk).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from courier.pages.cli import fetch_batch_arguments
from courier.pages.hook import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from courier.config import CourierConfig

SECRET_NAME = "courier-secrets"
POD_CONNECTIONS = (DEFAULT_CONN_ID, "aws_default")
POD_LABELS = {
    "app.kubernetes.io/name": "courier",
    "app.kubernetes.io/part-of": "airflow-courier",
    "app.kubernetes.io/component": "pages-fetch-batch",
}
POD_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def connection_env(conn_id: str) -> str:
    """Return the variable Airflow reads connection ``conn_id`` from."""
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def pod_arguments(
    config: CourierConfig, *, secret_name: str = SECRET_NAME, connections: Sequence[str] = POD_CONNECTIONS
) -> dict[str, Any]:
    """Return the ``KubernetesPodOperator`` arguments shared by every batch pod (image, namespace, env, ...)."""
    secret_env = [
        k8s.V1EnvVar(
            name=connection_env(conn_id),
            value_from=k8s.V1EnvVarSource(
                secret_key_ref=k8s.V1SecretKeySelector(name=secret_name, key=connection_env(conn_id))
            ),
        )
        for conn_id in connections
    ]
    return {
        "image": config.worker_image,
        "namespace": config.namespace,
        "name": "courier-fetch-batch",
        "cmds": ["courier"],
        "env_vars": [
            k8s.V1EnvVar(name="AIRFLOW__COURIER__STORAGE_BASE", value=config.storage_base),
            k8s.V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
            *secret_env,
        ],
        "container_resources": k8s.V1ResourceRequirements(**POD_RESOURCES),
        "labels": dict(POD_LABELS),
        "kubernetes_conn_id": "kubernetes_default",
        "image_pull_policy": "IfNotPresent",
        "security_context": k8s.V1PodSecurityContext(run_as_non_root=True),
        "container_security_context": k8s.V1SecurityContext(
            allow_privilege_escalation=False, capabilities=k8s.V1Capabilities(drop=["ALL"])
        ),
        "get_logs": True,
        "do_xcom_push": False,  # the result is written to object storage; no sidecar needed
        "on_finish_action": "delete_succeeded_pod",  # keep a failed pod for `kubectl logs/describe`
        "startup_timeout_seconds": 300,
    }


class FetchBatchPodOperator(KubernetesPodOperator):
    """Fetch one batch of pages in a pod running ``courier pages fetch-batch`` (``execution_mode = kubernetes``).

    :param batch_path: URL of the batch file the plan wrote.
    :param out_path: URL of the part file to write; the result goes beside it.
    :param batch_label: the batch's name in the UI.
    :param kwargs: ``KubernetesPodOperator`` arguments (see :func:`pod_arguments`).
    """

    def __init__(self, *, batch_path: str, out_path: str, batch_label: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("cmds", ["courier"])
        super().__init__(arguments=fetch_batch_arguments(batch_path, out_path), **kwargs)
        self.batch_path = batch_path
        self.out_path = out_path
        self.batch_label = batch_label
