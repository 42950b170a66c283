"""The spec worker as a pod (``execution_mode = kubernetes``): ``courier specs work`` in the worker image.

Imported only in kubernetes mode (the Kubernetes client is slow to import, and every worker task parses the
DAG file). The pod gets what :func:`courier.specs.worker.run_worker` needs: the ``courier_db`` and
``aws_default`` connections from the ``courier-secrets`` secret (see :mod:`courier.kubernetes`), the storage
base, and room for a browser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from courier import kubernetes
from courier.links import SpecMatrixLink
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

    operator_extra_links = (*KubernetesPodOperator.operator_extra_links, SpecMatrixLink())

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
    """Return the pod arguments of a spec worker (:func:`courier.kubernetes.pod_arguments`): with the Courier
    database connection, and resources and a start-up time for a browser per cell."""
    return kubernetes.pod_arguments(
        config,
        name="courier-spec-worker",
        component="spec-worker",
        connections=POD_CONNECTIONS,
        resources=POD_RESOURCES,
        startup_timeout=600,
        placement=config.specs_pod,
    )
