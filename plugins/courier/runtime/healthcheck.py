"""Container health check: ``python -m courier.runtime.healthcheck SchedulerJob`` (or ``DagProcessorJob``,
``TriggererJob``) exits 0 when a job of that type on this host is running and has heartbeated recently.

The same question ``airflow jobs check --job-type X --local`` answers, read straight from Airflow's metadata
database with psycopg, without starting an Airflow CLI: about 0.2 s of CPU instead of about 3 s. docker compose
runs it every 30 s in three containers; on a 2-core machine under load the Airflow CLI took longer than a
minute per check (measured: 1 min 45 s for 3.5 s of CPU), long enough to mark working components unhealthy.
"""

from __future__ import annotations

import os
import re
import socket
import sys

import psycopg

JOB_TYPES = ("SchedulerJob", "DagProcessorJob", "TriggererJob")
MAX_AGE_ENV = "COURIER_HEALTHCHECK_MAX_AGE"


def libpq_url(sqlalchemy_url: str) -> str:
    """``postgresql+psycopg2://…`` (SQLAlchemy) → ``postgresql://…`` (libpq)."""
    if not re.match(r"^postgres(ql)?(\+\w+)?://", sqlalchemy_url):
        raise ValueError("the metadata database is not PostgreSQL: use `airflow jobs check` instead")
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", sqlalchemy_url)


def check(job_type: str, url: str, hostname: str, max_age: float) -> bool:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT count(*) FROM job WHERE job_type = %s AND state = 'running' AND hostname = %s"
            " AND latest_heartbeat > now() - make_interval(secs => %s)",
            (job_type, hostname, max_age),
        ).fetchone()
    return bool(row and row[0])


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in JOB_TYPES:
        print(f"usage: python -m courier.runtime.healthcheck {{{','.join(JOB_TYPES)}}}", file=sys.stderr)
        return 2
    url = libpq_url(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    max_age = float(os.environ.get(MAX_AGE_ENV, "60"))
    # Airflow records a job's host with socket.getfqdn() (the default [core] hostname_callable).
    if check(args[0], url, socket.getfqdn(), max_age):
        print(f"{args[0]} on {socket.getfqdn()} is alive")
        return 0
    print(f"no running {args[0]} on {socket.getfqdn()} with a heartbeat in the last {max_age:.0f} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
