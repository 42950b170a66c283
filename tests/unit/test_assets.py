"""Every stored output is an Asset whose URI is where its files are (``assets.py``)."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from courier import assets
from tests.conftest import REPO

OUTLETS = {
    # DAG id, task id: the output its stored files are
    ("report_collector", "collect_report"): assets.REPORTS,
    ("api_snapshot", "snapshot"): assets.SNAPSHOTS,
    ("paginated_fanout", "merge"): assets.FANOUT,
    ("delayed_request", "process"): assets.JOB_RESULTS,
}


@pytest.mark.parametrize("base", ["file:///srv/courier/data", "s3://bucket/prefix"])
def test_an_output_asset_is_its_folder_under_the_storage_base(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", base)
    for output in assets.OUTPUTS:
        made = assets.asset(output)
        assert (made.name, made.uri) == (output.name, f"{base}/{output.folder}")
    assert assets.asset(assets.REPORTS).uri == f"{base}/reports/report_collector"


@pytest.mark.parametrize(("dag_id", "task_id"), list(OUTLETS))
def test_each_task_that_stores_files_has_its_asset_as_outlet(
    dag_id: str, task_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", "file:///srv/courier/data")
    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    task = bag.dags[dag_id].get_task(task_id)
    outlets = [o for o in task.outlets if isinstance(o, Asset)]
    output = OUTLETS[(dag_id, task_id)]
    assert [(o.name, o.uri) for o in outlets] == [(output.name, f"file:///srv/courier/data/{output.folder}")]
