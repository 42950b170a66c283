"""Every stored output is an Asset whose URI is where its files are, and lineage names real places."""

from __future__ import annotations

import pytest
from airflow.sdk import Asset

from courier import assets
from courier.lineage import dataset_name, operator_lineage
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


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8090/data?rows=5", ("http://127.0.0.1:8090", "/data")),
        ("https://api.example.com/get_report/t1", ("https://api.example.com:443", "/get_report/t1")),
        ("file:///srv/data/snapshots/a%20b.csv", ("file", "/srv/data/snapshots/a b.csv")),
        ("s3://bucket/prefix/x.csv", ("s3://bucket", "prefix/x.csv")),
    ],
)
def test_lineage_dataset_names_follow_openlineage_naming(url: str, expected: tuple[str, str]) -> None:
    assert dataset_name(url) == expected


def test_operator_lineage_names_the_api_as_input_and_the_file_as_output() -> None:
    lineage = operator_lineage(["http://127.0.0.1:8090/data"], ["file:///srv/x.csv"])
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("http://127.0.0.1:8090", "/data")]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [("file", "/srv/x.csv")]
    assert operator_lineage([""], [""]).inputs == []  # nothing recorded (a failed try): no made-up dataset


def test_extra_links_point_at_the_page_of_their_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from courier import links

    class Key:  # what a link reads of the task instance key
        dag_id, task_id, run_id, map_index, try_number = (
            "paginated_fanout",
            "fetch_batch",
            "manual__2026-12-07T10:00:00+00:00",
            0,
            1,
        )

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/team/")
    key = Key()
    run = "manual__2026-12-07T10%3A00%3A00%2B00%3A00"
    fanout = links.FanoutManifestLink().get_link(None, ti_key=key)  # type: ignore[arg-type]
    assert fanout == f"https://airflow.example.com/team/courier/ui/pages/{run}"
    assert links.SpecMatrixLink().get_link(None, ti_key=key).endswith(f"/courier/ui/specs/{run}")  # type: ignore[arg-type]
    report = links.ReportCollectionLink().get_link(None, ti_key=key)  # type: ignore[arg-type]
    assert report == f"https://airflow.example.com/team/courier/ui/reports?run_id={run}"
    recorded = {"courier_timer_id": "tmr_01", "courier_job_id": None}
    monkeypatch.setattr(links.BaseXCom, "get_value", lambda ti_key, key: recorded[key])
    assert links.TimerLink().get_link(None, ti_key=key) == "https://airflow.example.com/team/courier/ui/timers/tmr_01"  # type: ignore[arg-type]
    assert links.JobsLink().get_link(None, ti_key=key) == ""  # type: ignore[arg-type]  # nothing recorded: no link
