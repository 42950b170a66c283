"""`courier up` on a shared host: the home and every secret in it are its user's alone, from creation on,
and the embedded PostgreSQL wants a password from everyone (security review #18, finding 6)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from courier.runtime.postgres import SUPERUSER, EmbeddedPostgres
from courier.runtime.processes import Supervisor
from courier.runtime.stack import Secrets, Stack

SECRET_FILES = (
    "secrets.json",
    "admin-password",
    "user-passwords.json",
    "postgres-password",
    "env.sh",
    "airflow/airflow.cfg",
    "airflow/simple_auth_manager_passwords.json",
)

_CHMODDED: list[str] | None = None
"""Regular files ``os.chmod``-ed while a test records (a file made first and restricted after: a window)."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _CHMODDED is not None and event == "os.chmod" and isinstance(args[0], str | bytes | os.PathLike):
        path = os.fsdecode(args[0])
        if os.path.isfile(path):
            _CHMODDED.append(path)


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one records only while _CHMODDED is a list


@pytest.fixture
def wide_umask() -> Iterator[list[str]]:
    """umask 000 (whatever is created without an explicit mode is world-readable) and the files chmod-ed."""
    global _CHMODDED
    before = os.umask(0)
    _CHMODDED = []
    try:
        yield _CHMODDED
    finally:
        _CHMODDED = None
        os.umask(before)


def _no_password_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("PGPASSWORD", "PGSERVICE", "PGUSER"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def _server_group(server: EmbeddedPostgres) -> int | None:
    import pwd

    return pwd.getpwnam(server.user).pw_gid if server.user else None


def test_home_and_every_secret_file_are_private_from_creation(
    tmp_path: Path, wide_umask: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURIER_PG_FAST", "1")
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    monkeypatch.delenv("COURIER_DATABASE_URL", raising=False)
    home = Path(f"/tmp/courier-secrets-{uuid.uuid4().hex[:8]}")  # not pytest's tmp_path: see test_cli_up.py
    stack = Stack(home=home, progress=lambda line: None)
    try:
        stack._make_home()
        stack_secrets = Secrets.load_or_create(home / "secrets.json")
        stack.admin_password = stack._admin_password()
        metadata_url, courier_url = stack._databases()  # initialises and starts the embedded server
        stack._write_airflow_cfg(metadata_url, stack_secrets)
        stack.env = stack._component_env(courier_url, stack_secrets)
        stack._write_env_file()

        late = [p for p in wide_umask if p.startswith(str(home))]
        assert late == [], f"secret files were chmod-ed after being written: {late}"
        for name in SECRET_FILES:
            mode = stat.S_IMODE((home / name).stat().st_mode)
            assert mode == 0o600, f"{name} is {mode:o}"
        assert stat.S_IMODE((home / "airflow").stat().st_mode) == 0o700
        info = home.stat()
        group = _server_group(stack.postgres)  # type: ignore[arg-type]
        if group is None:
            assert stat.S_IMODE(info.st_mode) == 0o700
        else:  # as root the server runs as its own user: its group may traverse the home, nothing more
            assert stat.S_IMODE(info.st_mode) == 0o710 and info.st_gid == group
        assert not [p for p in home.iterdir() if p.name.endswith(".tmp")]  # no temporary file left
        password = (home / "postgres-password").read_text().strip()
        assert password in metadata_url and password in courier_url and password in (home / "env.sh").read_text()
        assert password in (home / "airflow" / "airflow.cfg").read_text()
        with psycopg.connect(courier_url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        initdb_log = (home / "logs" / "initdb.log").read_text()
        assert "Success" in initdb_log or "syncing data" in initdb_log or "creating" in initdb_log
    finally:
        stack.stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def test_the_embedded_server_refuses_connections_without_the_password(
    postgres: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_password_env(monkeypatch, tmp_path)
    base = f"host=127.0.0.1 port={postgres.port} dbname=postgres user={SUPERUSER} connect_timeout=5"
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(base)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(base + " password=guess")
    with pytest.raises(psycopg.OperationalError, match="password"):  # the server's own socket too
        psycopg.connect(f"host={postgres.data_dir} port={postgres.port} dbname=postgres user={SUPERUSER}")
    with psycopg.connect(base, password=postgres.password) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (SUPERUSER,)
        rules = conn.execute("SELECT type, address, auth_method FROM pg_hba_file_rules").fetchall()
        listen = conn.execute("SHOW listen_addresses").fetchone()
    assert {r[2] for r in rules} == {"scram-sha-256"} and {r[1] for r in rules} <= {None, "127.0.0.1"}
    assert listen == ("127.0.0.1",)
    assert stat.S_IMODE(postgres.password_file.stat().st_mode) == 0o600


def test_a_data_folder_made_with_trust_is_upgraded_at_the_next_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _no_password_env(monkeypatch, tmp_path)
    home = Path(f"/tmp/courier-trust-{uuid.uuid4().hex[:8]}")
    supervisor = Supervisor(uuid.uuid4().hex, home / "logs")
    old = EmbeddedPostgres(home / "postgres", supervisor)
    try:
        old.init()  # what an older Courier made: initdb --auth=trust, no password file
        supervisor.stop()
        old.password_file.unlink()
        (old.data_dir / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")

        server = EmbeddedPostgres(home / "postgres", Supervisor(uuid.uuid4().hex, home / "logs"))
        assert server.init() is False and server.upgraded is True
        server.start()
        base = f"host=127.0.0.1 port={server.port} dbname=postgres user={SUPERUSER} connect_timeout=5"
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(base)
        with psycopg.connect(server.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600
        server.supervisor.stop()
        again = EmbeddedPostgres(home / "postgres", Supervisor(uuid.uuid4().hex, home / "logs"))
        assert again.init() is False and again.upgraded is False  # secured once; later starts change nothing
    finally:
        supervisor.stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def test_initdb_output_goes_to_the_log_not_the_terminal(tmp_path: Path) -> None:
    code = (
        "import uuid, sys, airflow; from pathlib import Path; from courier.runtime.postgres import EmbeddedPostgres;"
        "from courier.runtime.processes import Supervisor;"
        f"EmbeddedPostgres(Path({str(tmp_path / 'home' / 'pg')!r}), Supervisor(uuid.uuid4().hex, "
        f"Path({str(tmp_path / 'home' / 'logs')!r}))).init()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "database system" not in result.stdout + result.stderr, result.stdout + result.stderr
    assert "database system will be owned by user" in (tmp_path / "home" / "logs" / "initdb.log").read_text()
