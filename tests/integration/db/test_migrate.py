"""Migrations against a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from courier.db import migrate as db_migrate
from courier.db.migrate import SchemaTooNewError, current_version, discover, latest_version, migrate


def test_migrate_applies_all_then_nothing(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert current_version(conn) == 0
        applied = migrate(conn)
        assert [m.version for m in applied] == list(range(1, latest_version() + 1))
        assert current_version(conn) == latest_version()
        assert migrate(conn) == []  # idempotent
        rows = conn.execute("SELECT version, name FROM courier_schema_version ORDER BY version").fetchall()
        assert [r[0] for r in rows] == [m.version for m in discover()]
        assert conn.execute("SELECT to_regclass('courier_selfcheck') IS NOT NULL").fetchone() == (True,)


def test_only_pending_migrations_run(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id int);")
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE second_table (id int);")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        assert [m.version for m in migrate(conn, discover(tmp_path))] == [1, 2]
        (tmp_path / "0003_third.sql").write_text("CREATE TABLE third_table (id int);")
        assert [m.version for m in migrate(conn, discover(tmp_path))] == [3]
        assert current_version(conn) == 3


def test_failed_migration_rolls_back_and_stops(empty_db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok_table (id int);")
    (tmp_path / "0002_broken.sql").write_text("CREATE TABLE half_done (id int); SELECT no_such_function();")
    (tmp_path / "0003_after.sql").write_text("CREATE TABLE after_table (id int);")
    with psycopg.connect(empty_db, autocommit=True) as conn:
        with pytest.raises(psycopg.Error):
            migrate(conn, discover(tmp_path))
        assert current_version(conn) == 1
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute("SELECT to_regclass('after_table')").fetchone() == (None,)


def test_refuses_a_newer_schema(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        future = latest_version() + 5
        conn.execute("INSERT INTO courier_schema_version (version, name) VALUES (%s, 'from_the_future')", (future,))
        with pytest.raises(SchemaTooNewError, match=f"schema version {future}"):
            migrate(conn)


def test_concurrent_migrators_apply_each_migration_once(empty_db: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with psycopg.connect(empty_db, autocommit=True) as conn:
                migrate(conn)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(empty_db) as conn:
        count = conn.execute("SELECT count(*) FROM courier_schema_version").fetchone()
    assert count == (latest_version(),)


def test_cli_migrate_is_idempotent_and_reports(empty_db: str) -> None:
    env_url = {"COURIER_DATABASE_URL": empty_db}
    first = _cli(["db", "migrate"], env_url)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_selfcheck" in first.stdout
    second = _cli(["db", "migrate"], env_url)
    assert second.returncode == 0 and "applied" not in second.stdout
    assert f"schema version {db_migrate.latest_version()}" in second.stdout


def test_cli_migrate_refuses_newer_schema_with_clear_error(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO courier_schema_version (version, name) VALUES (999, 'future')")
    result = _cli(["db", "migrate"], {"COURIER_DATABASE_URL": empty_db})
    assert result.returncode == 1
    assert "newer than this Courier knows" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_unreachable_database() -> None:
    result = _cli(["db", "status"], {"COURIER_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert "cannot reach the Courier database" in result.stderr


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "courier.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_0009_moves_raw_stats_events_into_chunks_losing_none(empty_db: str) -> None:
    """Events stored one per row before 0009 are, after it, the same events (times to the microsecond,
    values, order for "last") in chunk rows of the same minute partitions, and roll up as before."""
    from courier.stats.store import StatsStore

    before = [m for m in discover() if m.version <= 8]
    with psycopg.connect(empty_db, autocommit=True) as conn:
        migrate(conn, before)
        for minute, part in (("2026-11-28 12:00+00", "202611281200"), ("2026-11-28 12:01+00", "202611281201")):
            part = f"courier_stat_events_{part}"
            conn.execute(f"CREATE TABLE {part} (LIKE courier_stat_events INCLUDING DEFAULTS)")
            conn.execute(
                f"ALTER TABLE courier_stat_events ATTACH PARTITION {part} "
                f"FOR VALUES FROM ('{minute}') TO ('{minute}'::timestamptz + interval '1 minute')"
            )
        conn.execute(  # old layout; two events of one series at the same instant: the later accepted is "last"
            "INSERT INTO courier_stat_events (minute, ts, name, tags, type, value) VALUES "
            "('2026-11-28 12:00+00', '2026-11-28 12:00:01.000001+00', 'a', '{\"k\":\"v\"}', 'timer', 1.5), "
            "('2026-11-28 12:00+00', '2026-11-28 12:00:59.999999+00', 'a', '{\"k\":\"v\"}', 'timer', 7), "
            "('2026-11-28 12:00+00', '2026-11-28 12:00:59.999999+00', 'a', '{\"k\":\"v\"}', 'timer', 3), "
            "('2026-11-28 12:00+00', '2026-11-28 12:00:30+00', 'b', '{}', 'gauge', -2), "
            "('2026-11-28 12:01+00', '2026-11-28 12:01:00+00', 'a', '{\"k\":\"v\"}', 'timer', 4)"
        )
        conn.execute("INSERT INTO courier_stat_dirty (minute) VALUES ('2026-11-28 12:00+00'), ('2026-11-28 12:01+00')")
        old = conn.execute(
            "SELECT minute, ts, name, tags, type, value FROM courier_stat_events ORDER BY seq"
        ).fetchall()
        migrate(conn)
        new = conn.execute(
            "SELECT minute, ts, name, tags, type, value FROM courier_stat_events ORDER BY seq, pos"
        ).fetchall()
        assert sorted(new, key=str) == sorted(old, key=str) and len(new) == 5
        assert conn.execute("SELECT to_regclass('courier_stat_chunks_202611281201') IS NOT NULL").fetchone() == (True,)
    StatsStore(empty_db).rollup()
    with psycopg.connect(empty_db) as conn:
        rolled = conn.execute("SELECT name, minute, count, last FROM courier_stats ORDER BY name, minute").fetchall()
    assert [(r[0], r[1].minute, r[2], r[3]) for r in rolled] == [("a", 0, 3, 3.0), ("a", 1, 1, 4.0), ("b", 0, 1, -2.0)]
