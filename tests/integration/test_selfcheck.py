"""The selfcheck functions (``selfcheck.py``) against real storage (local files, the S3 protocol) and Postgres."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from courier import selfcheck
from courier.selfcheck import SelfcheckError, check_database, check_storage


def test_storage_check_says_what_failed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(SelfcheckError, match=r"write of .* failed"):
        check_storage(blocker.as_uri())


def test_storage_check_fails_on_missing_bucket(s3_server: str, s3_bucket: str) -> None:
    with pytest.raises(SelfcheckError, match="is not usable"):
        check_storage(f"s3://{s3_bucket}-missing/prefix")


def test_database_check_records_itself(courier_db: str) -> None:
    assert check_database("run-1", "file:///x")["schema_version"] >= 1
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT run_id FROM courier_selfcheck").fetchall() == [("run-1",)]


def test_the_record_keeps_the_newest_checks_only(courier_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selfcheck, "KEPT_CHECKS", 5)
    for n in range(8):
        check_database(f"run-{n}", "file:///x")
    with psycopg.connect(courier_db) as conn:
        kept = [r[0] for r in conn.execute("SELECT run_id FROM courier_selfcheck ORDER BY id").fetchall()]
    assert kept == [f"run-{n}" for n in range(3, 8)]


def test_database_check_demands_migration(empty_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", empty_db)
    with pytest.raises(SelfcheckError, match="run `courier db migrate`"):
        check_database("run-1", "")


def test_database_check_reports_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(SelfcheckError, match="cannot reach the Courier database"):
        check_database("run-1", "")
