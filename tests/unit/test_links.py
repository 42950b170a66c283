"""Extra links (``links.py``) point at the page of their object."""

from __future__ import annotations

import pytest


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
