"""The stats roll-up DAG (``dags/stats_rollup.py``): every minute, alone, and in the smoke set."""

from __future__ import annotations


def test_stats_rollup_dag_runs_every_minute_alone_and_in_smoke() -> None:
    from courier.reports.slots import cron_expression
    from courier.runtime.smoke import SMOKE_TAG
    from tests.conftest import REPO
    from tests.helpers import dag_bag

    bag = dag_bag(dag_folder=str(REPO / "dags" / "stats_rollup.py"))
    dag = bag.dags["stats_rollup"]
    assert {"courier", "stats", SMOKE_TAG} <= set(dag.tags)
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert cron_expression(dag.timetable) == "* * * * *"
    assert dag.get_task("prune").upstream_task_ids == {"rollup"}  # prune only after the roll-up
