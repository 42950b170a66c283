"""The worker step of ``spec_matrix`` for either execution mode, and the builder the DAG file calls.

``local``: :class:`SpecWorkerOperator` calls :func:`courier.specs.worker.run_worker` in the Airflow worker.
``kubernetes``: :class:`courier.specs.pod.SpecWorkerPodOperator` starts a pod in ``[courier] worker_image`` running
``courier specs work --run-id …``, which calls the same function. Both take the same mapped kwargs from the
plan (``run_id``, ``worker_label``, ``lease_seconds``, ``storage_base``), like ``paginated_fanout``'s batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from courier.kubernetes import mapped_by_mode
from courier.links import SpecMatrixLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.xcom_arg import XComArg

    from courier.config import CourierConfig

MAP_INDEX_TEMPLATE = "{{ task.worker_label }}"


class SpecWorkerOperator(BaseOperator):
    """Drain a spec run's queue in the worker (``execution_mode = local``).

    :param run_id: the spec run to work on. (templated)
    :param worker_label: the worker's name in the UI and in lease owners.
    :param lease_seconds: lease length of a claimed cell (renewed every third of it).
    :param storage_base: override ``[courier] storage_base`` for the artifacts.
    """

    template_fields: Sequence[str] = ("run_id",)
    ui_color = "#f3e8fd"
    operator_extra_links = (SpecMatrixLink(),)

    def __init__(
        self,
        *,
        run_id: str,
        worker_label: str = "",
        lease_seconds: float = 30.0,
        storage_base: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.worker_label = worker_label
        self.lease_seconds = lease_seconds
        self.storage_base = storage_base

    def execute(self, context: Context) -> dict[str, object]:
        from courier.specs.cli import short_label
        from courier.specs.worker import run_worker

        label = short_label(self.worker_label)
        return run_worker(
            self.run_id, label=label, lease_seconds=self.lease_seconds, storage_base=self.storage_base
        ).as_dict()


def spec_workers(
    workers: XComArg, *, task_id: str = "worker", config: CourierConfig | None = None, **kwargs: Any
) -> MappedOperator:
    """Return the mapped worker step for ``[courier] execution_mode``: one task (or pod) per planned worker.

    :param workers: the plan's list of ``{"run_id", "worker_label", "lease_seconds", "storage_base"}``.
    :param task_id: the step's task id.
    :param config: Courier settings (default: read ``[courier]``).
    :param kwargs: more operator arguments for every mapped task.
    """
    return mapped_by_mode(
        workers, SpecWorkerOperator, _pod, MAP_INDEX_TEMPLATE, task_id=task_id, config=config, pool=_pool, **kwargs
    )


def _pool(config: CourierConfig) -> tuple[str, int]:
    return config.spec_pool, config.spec_pool_slots


def _pod(config: CourierConfig) -> tuple[type[BaseOperator], dict[str, Any]]:
    from courier.specs.pod import SpecWorkerPodOperator, pod_arguments

    return SpecWorkerPodOperator, pod_arguments(config)
