"""The embedded PostgreSQL runtime: real server, data kept across restarts, nothing left running."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg

from courier.runtime.postgres import EmbeddedPostgres
from courier.runtime.processes import Supervisor


def test_restart_keeps_data_and_stop_leaves_no_server(tmp_path: Path) -> None:
    supervisor = Supervisor(uuid.uuid4().hex, tmp_path / "logs")
    server = EmbeddedPostgres(tmp_path / "pg", supervisor)
    assert server.init() is True
    server.start()
    assert server.ensure_database("keep") is True
    with psycopg.connect(server.url("keep"), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (v text); INSERT INTO t VALUES ('survives')")
    pid = supervisor.children[0].process.pid
    supervisor.stop()
    assert not _alive(pid)

    again = EmbeddedPostgres(tmp_path / "pg", Supervisor(uuid.uuid4().hex, tmp_path / "logs"))
    assert again.init() is False  # existing data directory is reused
    again.start()
    try:
        assert again.ensure_database("keep") is False
        with psycopg.connect(again.url("keep")) as conn:
            assert conn.execute("SELECT v FROM t").fetchall() == [("survives",)]
    finally:
        again.supervisor.stop()


def _alive(pid: int) -> bool:
    import psutil

    return psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
