"""
### stats_rollup

Rolls Courier's stats up, every minute. Clients post events to `POST /courier/stats` (JSON array or NDJSON);
this DAG turns every closed minute into one row per metric name + tag set in `courier_stats`: count, sum,
min, max, avg, last and the exact p50/p90/p95/p99 (PostgreSQL's `percentile_cont`). Events that arrive late
for a minute already rolled up are re-aggregated on the next run, so every stored minute equals the aggregate
of every event accepted for it.

Then **prune** drops raw events older than `[courier] stats_raw_retention` (default 600 s) — only minutes
that are rolled up, so if this DAG is paused or failing for an hour nothing unaggregated is lost — and
roll-ups older than `[courier] stats_rollup_retention` (30 days).

Runs never overlap (`max_active_runs=1`, plus a database lock) and a rerun changes nothing. All work is SQL
in the Courier database; only counts go to XCom. See `docs/stats.md`.

**gauges** (after the roll-up, whatever its outcome) sends the platform's periodic gauges through Airflow's
metrics (`[metrics]`): the roll-up's lag and the jobs per status and stuck (docs/DEPLOY.md, "Monitoring").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from courier import config, domains


@dag(
    dag_id=domains.STATS_ROLLUP,
    schedule="* * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # serves the API: runs from creation on every deployment (domains.SERVICE_DAGS)
    max_active_runs=1,
    doc_md=__doc__,
    tags=["courier", "stats", "smoke"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
        "execution_timeout": timedelta(minutes=5),
        **config.housekeeping(),
    },
)
def stats_rollup() -> None:
    @task
    def rollup() -> dict:
        from courier.stats.tasks import rollup

        return rollup()

    @task
    def prune() -> dict:
        from courier.stats.tasks import prune

        return prune()

    @task(trigger_rule="all_done")
    def gauges() -> dict:
        from courier.stats.tasks import gauges

        return gauges()

    done = rollup()
    done >> prune()
    done >> gauges()


stats_rollup()
