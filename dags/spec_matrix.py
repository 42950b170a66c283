"""
### spec_matrix

Run a list of functional specs over browser x viewport as a work queue — the job a Redis queue and a
Kubernetes Job of worker pods did, with leases, retries, history-balanced order and a matrix report.

1. **plan**: validates and expands `spec_list` (default `include/specs/specs.json`; only files under the
   spec roots, the bundle's `include/specs/` and `[courier] spec_roots`, are accepted; cells are spec x
   browser x viewport, minus per-spec narrowing and `exclude` rules), queues one row per cell in the
   Courier database, **longest expected duration first** (median of the cell's earlier passing runs; cells
   without history first), and logs how many cells were filtered and why. An invalid list fails the run with
   every problem named (spec and field) and nothing queued. `rerun_failed_of: <run id>` queues only the
   cells that run did not pass. Its XCom `plan` holds the counts and the filtered cells by reason.
2. **worker** (mapped, `workers` of them): each claims the next cell (`FOR UPDATE SKIP LOCKED`) under a
   lease it renews, runs the spec's `run` command with the `COURIER_SPEC_*` environment (exit 0 passed,
   77 skipped, else failed; past `timeout` its process group is killed), records the result and exits when
   the queue is empty. A killed worker's cell is re-run by another once its lease runs out; failed cells
   are retried up to the spec's `retries` and a pass on a retry is **flaky**. `[courier] execution_mode =
   local`: plain tasks; `kubernetes`: pods in `worker_image` running `courier specs work`.
3. **report**: `junit.xml`, `ctrf.json` and `report.html` (the matrix) in
   `{storage_base}/specs/spec_matrix/<run id>/` beside the artifacts; XCom carries the counts and the run's
   `state`: `passed`, `passed_with_skips` (skipped cells tested nothing, and the report says so),
   `nothing_tested` (no cell passed — every cell skipped) or `failed`. The run fails unless it is `passed` or
   `passed_with_skips`, so Airflow's alerting works and an all-skipped run is never green.

`base_url` (default: the `spec_site_default` connection, the demo upstream under `courier up`; a URL on
that connection's origin or on a host its `allowed_hosts` extra lists) reaches the checks as
`COURIER_SPEC_BASE_URL`; the cells get none of the worker's environment. Results are also at `GET /courier/specs/runs/{run_id}`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from courier import domains
from courier.specs.operators import spec_workers


@dag(
    dag_id=domains.SPEC_MATRIX,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # no schedule: runs only when triggered (domains.ON_DEMAND_DAGS)
    doc_md=__doc__,
    tags=["courier", "specs", "smoke"],
    max_active_runs=4,
    max_active_tasks=8,  # per run; the workers also hold [courier] spec_pool slots, at most half per run
    # a worker runs cells until the queue is empty: its bound is the run's size, not one cell's
    default_args={"retries": 1, "retry_delay": timedelta(seconds=10), "execution_timeout": timedelta(hours=2)},
    params={
        "spec_list": Param(
            "include/specs/specs.json",
            type="string",
            minLength=1,
            description="spec list file under a spec root (relative: the project)",
        ),
        "workers": Param(4, type="integer", minimum=1, maximum=64, description="parallel workers (mapped tasks)"),
        "base_url": Param(
            None, type=["null", "string"], description="COURIER_SPEC_BASE_URL (null: the spec_site_default connection)"
        ),
        "rerun_failed_of": Param(
            None, type=["null", "string"], description="queue only the cells this run did not pass"
        ),
        "lease_seconds": Param(30, type="number", minimum=1, maximum=3600, description="worker lease on a cell"),
        "storage_base": Param(None, type=["null", "string"], description="a folder under [courier] storage_base"),
    },
)
def spec_matrix() -> None:
    @task(retries=0)
    def plan(params: dict | None = None, dag_run=None, ti=None) -> list[dict]:  # type: ignore[no-untyped-def]
        from airflow.sdk.exceptions import AirflowFailException

        from courier.domains import SPEC_MATRIX, run_creator
        from courier.specs.enqueue import SpecRunRequest, plan_run
        from courier.specs.speclist import SpecListError

        creator = run_creator(SPEC_MATRIX, getattr(dag_run, "triggering_user_name", None))
        try:
            planned = plan_run(dag_run.run_id, SpecRunRequest.from_params(params or {}), created_by=creator)
        except (SpecListError, ValueError) as exc:
            raise AirflowFailException(str(exc)) from exc  # nothing queued; retrying would not help
        ti.xcom_push(key="plan", value={k: v for k, v in planned.items() if k != "workers"})  # counts, reasons
        return planned["workers"]  # one entry per mapped worker

    @task(trigger_rule="all_done", retries=0)  # report whatever ran, even when a worker died
    def report(params: dict | None = None, dag_run=None) -> dict:  # type: ignore[no-untyped-def]
        from airflow.sdk.exceptions import AirflowException

        from courier.params import storage_param
        from courier.specs.report import write_report

        counts = write_report(dag_run.run_id, storage_param((params or {}).get("storage_base")))
        if not counts["ok"]:
            raise AirflowException(
                f"run {counts['state']}: {counts['failed']} cell(s) failed, {counts['not_run']} did not run, "
                f"{counts['passed'] + counts['flaky']} passed, {counts['skipped']} skipped; see {counts['report']}"
            )
        return counts

    planned = plan()
    reported = report()
    spec_workers(planned) >> reported
    planned >> reported


spec_matrix()
