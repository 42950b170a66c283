"""
### delayed_request

Processes the **jobs** clients submit with `POST /courier/jobs` (see `docs/jobs.md`). The API starts a run
as soon as jobs are queued (at most one run per second of submissions; `delayed_request_sweep` starts one
for anything missed). A run:

1. `claim` — takes queued jobs **in arrival order** (up to 1000, owned by this run), in at most 4 batches
   of at least 125;
2. `next_run` — when `claim` took a full 1000 and jobs are still queued, starts the next run at once (a
   backlog drains run after run instead of waiting for the sweep); skipped otherwise;
3. `process` — one mapped task per batch (`jobs 1-125`, …) submits the batch to the processor
   (connection `jobs_api_default`), then **defers**: one trigger in the triggerer polls every job of the
   batch, stores each result at `{storage_base}/jobs/<job_id>/report.csv` and marks it `success`. A job the
   processor fails, or that runs past `[courier] job_timeout` (900 s), is resubmitted once, then `failed`.

Task retries cover infrastructure failures: a retried `process` resumes its jobs from the database
instead of resubmitting them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import dag

from courier import assets, domains
from courier.jobs.operators import NextRunOperator, ProcessJobsOperator, claim_batches


@dag(
    dag_id=domains.DELAYED_REQUEST,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=16,
    doc_md=__doc__,
    tags=["courier", "jobs", "smoke"],
    # execution_timeout bounds each run of a task on a worker (a deferred wait is bounded by its own timeout)
    default_args={"retries": 3, "retry_delay": timedelta(seconds=10), "execution_timeout": timedelta(minutes=5)},
)
def delayed_request() -> None:
    claim = PythonOperator(
        task_id="claim",
        python_callable=claim_batches,
        op_kwargs={"owner": "{{ run_id }}"},
    )
    ProcessJobsOperator.partial(
        task_id="process",
        map_index_template="{{ task.batch_label }}",
        execution_timeout=timedelta(minutes=30),  # a resume stores up to a batch of results
        outlets=[assets.asset(assets.JOB_RESULTS)],  # each batch's stored results (courier.assets)
    ).expand_kwargs(claim.output)
    # ahead of this run's own batches for a worker slot: the next run's claim should not wait behind them
    NextRunOperator(task_id="next_run", batches=claim.output, priority_weight=100)


delayed_request()
