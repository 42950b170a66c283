"""Retention (courier/retention.py, the stores' SQL, ``courier db clean``) on a real database and real files:
nothing open is ever deleted, files go with their rows, a dry run deletes nothing and counts what would go."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from courier import retention
from courier.cli import main
from tests.helpers import StatsdListener, wait_until

OLD = datetime.now(UTC) - timedelta(days=40)
CUT = datetime.now(UTC) - timedelta(days=30)
TIMER_STATUSES = ("scheduled", "firing", "retrying", "delivered", "failed", "cancelled", "expired")
JOB_STATUSES = ("queued", "processing", "success", "failed", "downloaded", "cancelled")


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", root.as_uri())
    return root


def _put(root: Path, relative: str, text: str = "x\n") -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def seed(url: str, root: Path) -> dict[str, Any]:
    """Every status of every table, each finished (finished_at) 40 days ago — open ones too, so only the status
    rule can keep them — plus recent final rows; files for jobs, pushed files and spec runs."""
    with psycopg.connect(url, autocommit=True) as conn:
        for status in TIMER_STATUSES:
            for age, when in (("old", OLD), ("new", datetime.now(UTC))):
                tid = f"tmr_{status}_{age}"
                conn.execute(
                    "INSERT INTO courier_timers (id, url, fire_at, status, next_attempt_at, finished_at, attempts)"
                    " VALUES (%s, 'https://example.com/', %s, %s, %s, %s, 2)",
                    (tid, when, status, when, when),
                )
                for n in (1, 2):
                    conn.execute(
                        "INSERT INTO courier_timer_attempts (timer_id, attempt, started_at, duration_ms, dispatcher)"
                        " VALUES (%s, %s, %s, 1.0, 'd')",
                        (tid, n, when),
                    )
        # pushed files (all but one uploaded long ago): named by open jobs, by old final jobs only, by recent
        # final jobs, by nobody; and a recent one named by nobody
        files = {}
        for name, age in (
            ("open", OLD),
            ("final_old", OLD),
            ("final_new", OLD),
            ("orphan", OLD),
            ("fresh", datetime.now(UTC)),
        ):
            relative = f"jobs/files/file_{name}/{name}.csv"
            _put(root, relative)
            files[name] = relative
            conn.execute(
                "INSERT INTO courier_job_files (file_id, path, bytes, sha256, created_at) VALUES (%s, %s, 2, 'x', %s)",
                (f"file_{name}", relative, age),
            )
        for status in JOB_STATUSES:
            for age, when in (("old", OLD), ("new", datetime.now(UTC))):
                jid = f"job_{status}_{age}"
                report = _put(root, f"jobs/{jid}/report.csv")
                named = [files["open"] if status in ("queued", "processing") else files[f"final_{age}"]]
                conn.execute(
                    "INSERT INTO courier_jobs (job_id, status, files_to_process, finished_at, report_file_path)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (jid, status, json.dumps(named), when, str(report.relative_to(root))),
                )
                conn.execute(
                    "INSERT INTO courier_job_attempts (job_id, attempt, started_at) VALUES (%s, 1, %s)", (jid, when)
                )
        for status in ("pending", "collected", "failed"):
            conn.execute(
                "INSERT INTO courier_report_tickets (dag_id, run_id, task_id, ticket_id, status, finished_at)"
                " VALUES ('report_collector', %s, 'collect_report', 't', %s, %s)",
                (f"run_{status}", status, OLD),
            )
        for run_id, cell_status in (("spec_done", "passed"), ("spec_open", "running")):
            folder = root / "specs" / "spec_matrix" / run_id
            _put(root, f"specs/spec_matrix/{run_id}/report.html")
            _put(root, f"specs/spec_matrix/{run_id}/artifacts/a/chromium-desktop/shot.png")
            conn.execute(
                "INSERT INTO courier_spec_runs (run_id, spec_list, report_url, finished_at) VALUES (%s, 'l', %s, %s)",
                (run_id, (folder / "report.html").as_uri(), OLD),
            )
            conn.execute(
                "INSERT INTO courier_spec_cells (run_id, cell_key, spec_id, browser, viewport, width, height, run,"
                " workdir, timeout_s, seq, status) VALUES (%s, 'c1', 'a', 'chromium', 'desktop', 1, 1, '[]', '.', 1, 1, %s)",
                (run_id, cell_status),
            )
            conn.execute(
                "INSERT INTO courier_spec_attempts (run_id, cell_key, attempt, worker, status, started_at,"
                " duration_ms) VALUES (%s, 'c1', 1, 'w', 'passed', %s, 1)",
                (run_id, OLD),
            )
    return files


def _ids(url: str, query: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {str(r[0]) for r in conn.execute(query).fetchall()}


def everything(url: str) -> dict[str, set[str]]:
    return {
        "timers": _ids(url, "SELECT id FROM courier_timers"),
        "timer_attempts": _ids(url, "SELECT timer_id || '/' || attempt FROM courier_timer_attempts"),
        "jobs": _ids(url, "SELECT job_id FROM courier_jobs"),
        "job_attempts": _ids(url, "SELECT job_id FROM courier_job_attempts"),
        "files": _ids(url, "SELECT file_id FROM courier_job_files"),
        "tickets": _ids(url, "SELECT run_id FROM courier_report_tickets"),
        "runs": _ids(url, "SELECT run_id FROM courier_spec_runs"),
        "cells": _ids(url, "SELECT run_id FROM courier_spec_cells"),
        "spec_attempts": _ids(url, "SELECT run_id FROM courier_spec_attempts"),
    }


def _all_tables() -> dict[str, datetime]:
    return dict.fromkeys(retention.TABLES, CUT)


def test_nothing_open_is_ever_deleted_and_final_rows_go_with_their_children(courier_db: str, store: Path) -> None:
    seed(courier_db, store)
    report = retention.clean(_all_tables(), batch=2)  # small batches: many transactions
    left = everything(courier_db)

    final_timers = {"delivered", "failed", "cancelled", "expired"}
    assert left["timers"] == {f"tmr_{s}_old" for s in TIMER_STATUSES if s not in final_timers} | {
        f"tmr_{s}_new" for s in TIMER_STATUSES
    }
    assert {a.split("/")[0] for a in left["timer_attempts"]} == left["timers"]  # attempts went with their timers
    assert left["jobs"] == {"job_queued_old", "job_processing_old"} | {f"job_{s}_new" for s in JOB_STATUSES}
    assert left["job_attempts"] == left["jobs"]
    assert left["tickets"] == {"run_pending"}
    assert left["runs"] == left["cells"] == left["spec_attempts"] == {"spec_open"}
    assert report.counts["courier_timers"] == {"courier_timers": 4, "courier_timer_attempts": 8}
    assert report.counts["courier_jobs"]["courier_jobs"] == 4 and report.counts["courier_jobs"]["files"] == 4
    assert report.counts["courier_job_files"] == {"courier_job_files": 2, "files": 2}
    assert report.batches >= 4  # 4 final old timers in batches of 2: more than one transaction


def test_files_go_with_their_rows(courier_db: str, store: Path) -> None:
    files = seed(courier_db, store)
    retention.clean(_all_tables())
    left = everything(courier_db)
    # a job's stored result goes with the job (and its emptied folder); kept jobs keep theirs
    for status in JOB_STATUSES:
        for age in ("old", "new"):
            jid = f"job_{status}_{age}"
            assert (store / "jobs" / jid / "report.csv").exists() == (jid in left["jobs"]), jid
            assert (store / "jobs" / jid).exists() == (jid in left["jobs"]), jid
    # pushed files: the one an open job names stays; the one only deleted jobs named, and the old orphan, go
    # (rows and objects); a fresh orphan is not past its expiry
    assert left["files"] == {"file_open", "file_final_new", "file_fresh"}
    for name, relative in files.items():
        assert (store / relative).exists() == (f"file_{name}" in left["files"]), name
        assert (store / relative).parent.exists() == (f"file_{name}" in left["files"]), name
    assert not (store / "specs" / "spec_matrix" / "spec_done").exists()
    assert (
        store / "specs" / "spec_matrix" / "spec_open" / "artifacts" / "a" / "chromium-desktop" / "shot.png"
    ).exists()


def test_a_dry_run_deletes_nothing_and_counts_what_a_clean_deletes(courier_db: str, store: Path) -> None:
    seed(courier_db, store)
    before = everything(courier_db)
    dry = retention.clean(_all_tables(), dry_run=True)
    assert everything(courier_db) == before
    assert all(p.exists() for p in store.rglob("*"))
    real = retention.clean(_all_tables())
    for table, counts in dry.counts.items():
        assert {k: v for k, v in real.counts[table].items() if k != "files"} == counts, table
    assert dry.counts["courier_spec_runs"] == {
        "courier_spec_runs": 1,
        "courier_spec_cells": 1,
        "courier_spec_attempts": 1,
    }


def test_db_clean_command_dry_run_then_delete(
    courier_db: str, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(courier_db, store)
    monkeypatch.setenv("COURIER_HOME", str(tmp_path / "no-stack"))  # no courier up home: the deployment's config
    ts = CUT.isoformat()
    assert main(["db", "clean", "--clean-before-timestamp", ts, "--tables", "courier_timers", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "courier_timers: 4 courier_timers, 8 courier_timer_attempts" in out and "nothing deleted" in out
    assert len(everything(courier_db)["timers"]) == 14
    assert main(["db", "clean", "--clean-before-timestamp", ts, "--tables", "courier_timers", "--yes"]) == 0
    assert "deleted courier_timers: 4 courier_timers, 8 courier_timer_attempts" in capsys.readouterr().out
    assert len(everything(courier_db)["timers"]) == 10 and len(everything(courier_db)["jobs"]) == 12
    assert main(["db", "clean", "--clean-before-timestamp", ts, "--tables", "courier_nope", "--yes"]) == 2
    assert "unknown table(s) courier_nope" in capsys.readouterr().err


def test_db_clean_finds_the_courier_up_home_or_refuses_a_home_without_a_stack(
    courier_db: str, store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(courier_db, store)
    monkeypatch.delenv("COURIER_DATABASE_URL")  # only the home can say where the database is
    ts = CUT.isoformat()
    assert main(["db", "clean", "--clean-before-timestamp", ts, "--dry-run", "--home", str(tmp_path / "empty")]) == 1
    assert "no stack found" in capsys.readouterr().err
    home = tmp_path / "home"
    home.mkdir()
    (home / "env.sh").write_text(f"export COURIER_DATABASE_URL='{courier_db}'\n")
    assert main(["db", "clean", "--clean-before-timestamp", ts, "--dry-run", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert f"the stack in {home}" in out and "courier_jobs: 4 courier_jobs, 4 courier_job_attempts" in out


def test_a_batch_finds_its_rows_by_the_retention_indexes_not_by_reading_the_table(courier_db: str) -> None:
    """Migration 0013: without its partial indexes every batch read the whole table (quadratic in its size)."""
    from courier.jobs.store.cleanup import _FINISHED_DELETE as JOBS_DELETE
    from courier.jobs.store.cleanup import _final
    from courier.timers import rules
    from courier.timers.store import _FINISHED_DELETE as TIMERS_DELETE
    from courier.timers.store import _query

    with psycopg.connect(courier_db, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO courier_timers (id, url, fire_at, status, next_attempt_at, finished_at)"
            " SELECT 't' || g, 'https://e/', now(), CASE WHEN g % 2 = 0 THEN 'scheduled' ELSE 'delivered' END, now(),"
            " CASE WHEN g % 2 = 0 THEN NULL ELSE now() - interval '1 day' * (g % 60) END FROM generate_series(1, 20000) g"
        )
        conn.execute(
            "INSERT INTO courier_jobs (job_id, status, files_to_process, finished_at) SELECT 'j' || g,"
            " CASE WHEN g % 2 = 0 THEN 'queued' ELSE 'failed' END, '[]', now() - interval '1 day' * (g % 60)"
            " FROM generate_series(1, 20000) g"
        )
        conn.execute("ANALYZE courier_timers, courier_jobs")
        params = {"before": CUT, "batch": 1000}
        timers_plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN " + _query(TIMERS_DELETE, final=rules.FINAL).as_string(None), params
            ).fetchall()
        )
        jobs_plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + _final(JOBS_DELETE), params).fetchall())
    assert "courier_timers_finished" in timers_plan, timers_plan
    assert "courier_jobs_finished" in jobs_plan, jobs_plan
    for table, plan in (("courier_timers", timers_plan), ("courier_jobs", jobs_plan)):
        assert f"Seq Scan on {table} " not in plan and f"Seq Scan on {table}\n" not in plan, plan


def test_the_dags_task_keeps_each_domain_for_its_own_days_paces_its_batches_and_reports(
    courier_db: str, store: Path, statsd: StatsdListener, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``courier_retention`` runs (its task's callable, ``run_task``) with the settings a deployment gives:
    each domain's ``<domain>_retention_days`` over ``retention_days``, ``job_upload_expiry_days`` for pushed files,
    ``retention_batch_size`` and ``retention_batch_pause``; its counts go to XCom and to the metrics."""
    from courier.db import batches

    seed(courier_db, store)  # final rows and files finished 40 days ago
    for key, value in {
        "RETENTION_DAYS": "30",  # jobs and specs: 40-day-old final rows go
        "TIMERS_RETENTION_DAYS": "50",  # timers: kept
        "REPORTS_RETENTION_DAYS": "45",  # report tickets: kept
        "JOB_UPLOAD_EXPIRY_DAYS": "60",  # pushed files uploaded 40 days ago: kept
        "RETENTION_BATCH_SIZE": "1",
        "RETENTION_BATCH_PAUSE": "0.05",
    }.items():
        monkeypatch.setenv(f"AIRFLOW__COURIER__{key}", value)
    pauses: list[float] = []
    monkeypatch.setattr(batches.time, "sleep", pauses.append)
    before = everything(courier_db)

    result = retention.run_task()

    left = everything(courier_db)
    assert left["timers"] == before["timers"] and left["tickets"] == before["tickets"]
    assert left["files"] == before["files"]
    assert left["jobs"] == {"job_queued_old", "job_processing_old"} | {f"job_{s}_new" for s in JOB_STATUSES}
    assert left["runs"] == {"spec_open"}
    deleted: Any = result["deleted"]
    assert deleted["courier_jobs"]["courier_jobs"] == 4 and deleted["courier_spec_runs"]["courier_spec_runs"] == 1
    assert not any(deleted["courier_timers"].values()) and not any(deleted["courier_report_tickets"].values())
    cutoffs: Any = result["cutoffs"]
    age = {t: datetime.now(UTC) - datetime.fromisoformat(at) for t, at in cutoffs.items()}
    assert (
        round(age["courier_timers"] / timedelta(days=1)) == 50 and round(age["courier_jobs"] / timedelta(days=1)) == 30
    )
    assert round(age["courier_job_files"] / timedelta(days=1)) == 60
    assert result["batches"] >= 5 and pauses and set(pauses) == {0.05}  # one job or run per batch, paced
    wait_until(lambda: statsd.named("airflow.courier.retention.runs.ok"), 10, "the run's outcome metric", every=0.1)
    jobs_deleted = sum(v for v, _ in statsd.named("airflow.courier.retention.deleted.courier_jobs"))
    assert jobs_deleted == 4
