"""The jobs claim built by ``courier.db.claims`` on real PostgreSQL: its plan takes the picked jobs by primary
key, where the CTE join it replaced hash-joins the picked jobs against every queued one (5,000 here; the timers
saw it against every row)."""

from __future__ import annotations

import re

import psycopg
import pytest

from courier.jobs.store import owner_side

CTE_JOIN = """
WITH next AS (
    SELECT job_id FROM courier_jobs WHERE status = 'queued' ORDER BY seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED
)
UPDATE courier_jobs j
SET status = 'processing', claim_token = %(owner)s, started_at = coalesce(j.started_at, now()),
    upstream_id = NULL, result_url = NULL, deadline_at = now() + make_interval(secs => %(timeout)s)
FROM next WHERE j.job_id = next.job_id AND j.status = 'queued'
RETURNING j.job_id
"""
"""The claim jobs/store.py ran before (issue #28), kept here as the comparison."""


def plan_of(conn: psycopg.Connection, text: str) -> str:
    order = ["limit", "owner", "timeout"]
    text = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", text)
    conn.execute("DEALLOCATE ALL")
    conn.execute(f"PREPARE claim_q AS {text}")
    conn.execute("SET plan_cache_mode = force_generic_plan")
    return "\n".join(r[0] for r in conn.execute("EXPLAIN EXECUTE claim_q(500, 'run-1', 900)"))


@pytest.mark.parametrize(("statement", "probes"), [("helper", True), ("cte join", False)])
def test_the_jobs_claim_updates_by_primary_key_probes(courier_db: str, statement: str, probes: bool) -> None:
    with psycopg.connect(courier_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courier_jobs (job_id, status, files_to_process, params, created_by, finished_at)"
            " SELECT 'done-' || n, 'failed', '[]', '{}', 'courier', now() FROM generate_series(1, 50000) n"
        )
        conn.execute(
            "INSERT INTO courier_jobs (job_id, files_to_process, params, created_by)"
            " SELECT 'q-' || n, '[]', '{}', 'courier' FROM generate_series(1, 5000) n"
        )
        conn.execute("ANALYZE courier_jobs")
        plan = plan_of(conn, owner_side._CLAIM if statement == "helper" else CTE_JOIN)
    by_key = "courier_jobs_pkey" in plan and "Index Cond: (job_id = ANY" in plan
    assert (by_key and "Hash Join" not in plan and "Seq Scan" not in plan) is probes, plan
