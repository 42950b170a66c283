"""The batch step of ``paginated_fanout``, for either execution mode, and the builder DAG files call.

``local``: :class:`FetchBatchOperator` calls :func:`courier.pages.batch.run_batch` in the worker.
``kubernetes``: :class:`courier.pages.pod.FetchBatchPodOperator` starts a pod running
``courier pages fetch-batch --batch <url> --out <url>``, which calls the same function. Both take the same
mapped kwargs (``batch_path``, ``out_path``, ``batch_label``) from the plan and carry the same
``map_index_template``, so the DAG does not know which one it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from courier import assets
from courier.kubernetes import mapped_by_mode
from courier.links import FanoutManifestLink

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.definitions.mappedoperator import MappedOperator
    from airflow.sdk.definitions.xcom_arg import XComArg

    from courier.config import CourierConfig

MAP_INDEX_TEMPLATE = "{{ task.batch_label }}"  # "batch 3/8 · pages 250-374" in the UI instead of "2"


class FetchBatchOperator(BaseOperator):
    """Fetch one batch of pages in the worker and write its part file (``execution_mode = local``).

    :param batch_path: URL of the batch file the plan wrote. (templated)
    :param out_path: URL of the part file to write; the result goes beside it. (templated)
    :param batch_label: the batch's name in the UI.
    """

    template_fields: Sequence[str] = ("batch_path", "out_path")
    ui_color = "#e8f4fd"
    operator_extra_links = (FanoutManifestLink(),)

    def __init__(self, *, batch_path: str, out_path: str, batch_label: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.batch_path = batch_path
        self.out_path = out_path
        self.batch_label = batch_label

    def execute(self, context: Context) -> dict[str, Any]:
        from courier.pages.batch import run_batch

        result = run_batch(self.batch_path, self.out_path)
        return {k: result[k] for k in ("index", "pages", "pages_ok", "rows", "seconds")} | {
            "failed_pages": len(result["failed_pages"])
        }


class ApiSnapshotOperator(BaseOperator):
    """Store one snapshot of an API endpoint as CSV: ``api_snapshot``'s task (the run's params say what to GET).

    The file is ``{storage_base}/snapshots/<dag_id>/<interval>.csv``; XCom carries its path and counts. Its
    outlet (default: the ``courier_api_snapshots`` Asset, :mod:`courier.assets`) gets an event naming the file;
    its OpenLineage facets name the API URL read and the file written.

    :param paged_api_conn_id: the API's connection.
    """

    ui_color = "#e8f4fd"

    def __init__(self, *, paged_api_conn_id: str = "paged_api_default", **kwargs: Any) -> None:
        if kwargs.get("outlets") is None:
            kwargs["outlets"] = [assets.asset(assets.SNAPSHOTS)]
        super().__init__(**kwargs)
        self.paged_api_conn_id = paged_api_conn_id
        self._lineage: tuple[str, str] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        from courier.pages.snapshot import run_snapshot
        from courier.params import fail_fast

        run = context["dag_run"]
        with fail_fast():  # a refused endpoint or storage_base: no retry
            result = run_snapshot(
                context["params"],
                run.dag_id,
                run.data_interval_start,
                run.data_interval_end,
                run.run_after,
                conn_id=self.paged_api_conn_id,
            )
        extra = {k: result[k] for k in ("path", "rows", "format", "interval", "source")}
        assets.record(context, assets.SNAPSHOTS, **extra, columns=len(result["columns"]))
        self._lineage = (str(result["source"]), str(result["path"]))
        return result

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """OpenLineage: the API URL read and the CSV file written."""
        from courier.lineage import operator_lineage

        source, path = self._lineage or ("", "")
        return operator_lineage([source], [path])


def fetch_batches(
    plan: XComArg, *, task_id: str = "fetch_batch", config: CourierConfig | None = None, **kwargs: Any
) -> MappedOperator:
    """Return the mapped batch step for ``[courier] execution_mode``: one task (or pod) per planned batch.

    :param plan: the plan task's output, a list of ``{"batch_path", "out_path", "batch_label"}``.
    :param task_id: the step's task id.
    :param config: Courier settings (default: read ``[courier]``, which is configuration, not I/O).
    :param kwargs: more operator arguments for every mapped task (e.g. ``retries``, pod overrides).
    """
    return mapped_by_mode(
        plan, FetchBatchOperator, _pod, MAP_INDEX_TEMPLATE, task_id=task_id, config=config, pool=_pool, **kwargs
    )


def _pool(config: CourierConfig) -> tuple[str, int]:
    return config.fanout_pool, config.fanout_pool_slots


def _pod(config: CourierConfig) -> tuple[type[BaseOperator], dict[str, Any]]:
    from courier.pages.pod import FetchBatchPodOperator, pod_arguments

    return FetchBatchPodOperator, pod_arguments(config)
