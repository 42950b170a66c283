"""The spec worker as a pod (``execution_mode = kubernetes``): ``courier specs work`` in the worker image.

Imported only in kubernetes mode (the Kubernetes client is slow to import, and every worker task parses the
DAG file). The pod gets what :func:`courier.specs.worker.run_worker` needs: the ``courier_db`` and
``aws_default`` connections from the ``courier-secrets`` secret (see :mod:`courier.pages.pod`), the storage
base, and room for a browser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

from courier.specs.cli import short_label, work_arguments

if TYPE_CHECKING:
    from courier.config import CourierConfig

POD_CONNECTIONS = ("courier_db", "aws_default")
POD_RESOURCES = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "2Gi"}}


class SpecWorkerPodOperator(KubernetesPodOperator):
    """Drain a spec run's queue in a pod running ``courier specs work`` (``execution_mode = kubernetes``).

    :param run_id: the spec run to work on.
    :param worker_label: the worker's name in the UI.
    :param lease_seconds: lease length of a claimed cell.
    :param storage_base: override ``[courier] storage_base`` for the artifacts.
    :param kwargs: ``KubernetesPodOperator`` arguments (see :func:`pod_arguments`).
    """

    def __init__(
        self,
        *,
        run_id: str,
        worker_label: str = "",
        lease_seconds: float = 30.0,
        storage_base: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("cmds", ["courier"])
        label = short_label(worker_label)
        super().__init__(arguments=work_arguments(run_id, label, lease_seconds, storage_base), **kwargs)
        self.run_id = run_id
        self.worker_label = worker_label


def pod_arguments(config: CourierConfig) -> dict[str, Any]:
    """Return the pod arguments of a spec worker: the pages pod's, with the Courier database connection."""
    from courier.pages.pod import POD_LABELS
    from courier.pages.pod import pod_arguments as base_arguments

    arguments = base_arguments(config, connections=POD_CONNECTIONS)
    arguments["name"] = "courier-spec-worker"
    arguments["labels"] = {**POD_LABELS, "app.kubernetes.io/component": "spec-worker"}
    arguments["container_resources"] = k8s.V1ResourceRequirements(**POD_RESOURCES)  # a browser per cell
    arguments["startup_timeout_seconds"] = 600
    return arguments
