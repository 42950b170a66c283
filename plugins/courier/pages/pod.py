"""The batch step as a pod (``execution_mode = kubernetes``): ``courier pages fetch-batch`` in the worker image.

The pod gets exactly what :func:`courier.pages.batch.run_batch` needs and nothing more: the two
connections it uses (``paged_api_default`` for the API, ``aws_default`` for ``s3://`` storage) from the
``courier-secrets`` secret (the Courier database URL stays out of the pod), plus ``[courier] storage_base``
(:mod:`courier.kubernetes` builds what every Courier pod shares). Modest requests and a memory limit: a
batch holds one page in memory at a time; the rest is spooled to disk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

from courier import kubernetes
from courier.links import FanoutManifestLink
from courier.pages.cli import fetch_batch_arguments
from courier.pages.hook import DEFAULT_CONN_ID

if TYPE_CHECKING:
    from courier.config import CourierConfig

POD_CONNECTIONS = (DEFAULT_CONN_ID, "aws_default")
POD_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}


def pod_arguments(config: CourierConfig) -> dict[str, Any]:
    """Return the ``KubernetesPodOperator`` arguments shared by every batch pod (:func:`courier.kubernetes.pod_arguments`)."""
    return kubernetes.pod_arguments(
        config,
        name="courier-fetch-batch",
        component="pages-fetch-batch",
        connections=POD_CONNECTIONS,
        resources=POD_RESOURCES,
        placement=config.pages_pod,
    )


class FetchBatchPodOperator(KubernetesPodOperator):
    """Fetch one batch of pages in a pod running ``courier pages fetch-batch`` (``execution_mode = kubernetes``).

    :param batch_path: URL of the batch file the plan wrote.
    :param out_path: URL of the part file to write; the result goes beside it.
    :param batch_label: the batch's name in the UI.
    :param kwargs: ``KubernetesPodOperator`` arguments (see :func:`pod_arguments`).
    """

    operator_extra_links = (*KubernetesPodOperator.operator_extra_links, FanoutManifestLink())

    def __init__(self, *, batch_path: str, out_path: str, batch_label: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("cmds", ["courier"])
        super().__init__(arguments=fetch_batch_arguments(batch_path, out_path), **kwargs)
        self.batch_path = batch_path
        self.out_path = out_path
        self.batch_label = batch_label
