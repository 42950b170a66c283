"""The embedded stack behind ``courier up``: PostgreSQL, Airflow (LocalExecutor) and Courier, on one machine.

:class:`Stack` is used by the CLI and by the end-to-end tests alike, so the tests exercise exactly what a
user runs. Everything lives under one home directory (default ``.courier/``); a second start reuses it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from courier import bundle, domains
from courier.config import courier_home
from courier.connections import CONNECTION_TYPES
from courier.db import migrate as db_migrate
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.airflow_home import (
    ADMIN_USER,
    TIMER_QUEUE,
    AirflowSettings,
    Secrets,
    write_airflow_cfg,
    write_env_file,
    write_passwords,
)
from courier.runtime.postgres import EmbeddedPostgres, free_port
from courier.runtime.private import private_dir
from courier.runtime.processes import RestartPolicy, Supervisor, end_stack, tagged_processes

log = logging.getLogger(__name__)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = {"scheduler": "scheduler", "triggerer": "triggerer", "dag_processor": "dag-processor"}
CONN_TYPES = {t.default_conn_id: t.conn_type for t in CONNECTION_TYPES}
"""The Courier connection type of each connection ``courier up`` defines (``spec_site_default`` stays ``http``)."""


def connection_value(conn_id: str, url: str) -> str:
    """An ``AIRFLOW_CONN_*`` value for ``url`` with the connection's Courier type (its form and Test button)."""
    conn_type = CONN_TYPES.get(conn_id)
    if conn_type is None or "://" not in url:
        return url
    if conn_id == "courier_db":  # a libpq URL: its scheme names the type, the rest is read as before
        return f"{conn_type.replace('_', '-')}://{url.partition('://')[2]}"
    return json.dumps({"conn_type": conn_type, "host": url})


def libpq_url(value: str) -> str:
    """The libpq URL of a ``courier_db`` connection value :func:`connection_value` wrote (``courier-db://…``, the
    connection type in the scheme), for a client that connects with psycopg directly (tests, benchmarks)."""
    scheme, sep, rest = value.partition("://")
    return f"postgresql://{rest}" if sep and scheme == CONN_TYPES["courier_db"].replace("_", "-") else value


def default_api_workers() -> int:
    """API server processes by default: one per core, at most 2. Courier's API does CPU work per request (stats
    ingest parses and checks every event; one process holds one core at most, the GIL), so a second process
    on a 2-core machine serves ~16% more events per second (bench/stats.py); more only cost memory here."""
    return max(1, min(2, os.cpu_count() or 1))


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


def default_dags_folder() -> Path:
    """Return ``COURIER_DAGS_FOLDER``, else ``./dags``, else the bundle's (the installed package's ``dags/``, or
    the source tree's: :func:`courier.bundle.dags_folder`)."""
    if env := os.environ.get("COURIER_DAGS_FOLDER"):
        return Path(env).resolve()
    if (Path.cwd() / "dags").is_dir():
        return (Path.cwd() / "dags").resolve()
    return bundle.dags_folder().resolve()


def courier_dag_files(dags_folder: Path) -> list[Path]:
    """Return the DAG files of the bundle (one DAG per file, helpers start with ``_``)."""
    return sorted(p for p in dags_folder.glob("*.py") if not p.name.startswith("_"))


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass
class Stack:
    """Start and stop the embedded Courier stack.

    :param home: Courier home (data, logs, config); created when missing.
    :param port: API server port.
    :param dags_folder: DAG folder the dag-processor reads.
    :param extra_env: Environment added to every component (tests point connections here).
    :param progress: Called with one line per step.
    :param triggerers: How many triggerers to run; with 2 or more each timer dispatcher gets its own.
    :param api_workers: API server worker processes (``[api] workers``); default one per core, at most 2.
    """

    home: Path = field(default_factory=courier_home)
    port: int = 8080
    dags_folder: Path = field(default_factory=default_dags_folder)
    extra_env: dict[str, str] = field(default_factory=dict)
    progress: Callable[[str], None] = print
    stack_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    triggerers: int = 1
    api_workers: int = field(default_factory=default_api_workers)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.airflow_home = self.home / "airflow"
        self.supervisor = Supervisor(self.stack_id, self.home / "logs")
        self.postgres: EmbeddedPostgres | None = None
        self.env: dict[str, str] = {}
        self.courier_url = ""
        """The Courier database's libpq URL (once started): what a client connecting with psycopg uses."""
        self.admin_password = ""
        self.demo_url = ""
        self.started_at = 0.0
        self._respawn_at: dict[str, float] = {}

    # ----------------------------------------------------------------- properties
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, user: str = ADMIN_USER) -> AirflowApi:
        """Return a REST client logged in as ``user`` (one of :data:`USERS`; the admin by default)."""
        return AirflowApi(self.url, user, self.password(user))

    def password(self, user: str) -> str:
        """Return the password of one of :data:`USERS` (the others' live in ``<home>/user-passwords.json``)."""
        if user == ADMIN_USER:
            return self.admin_password
        return str(json.loads((self.home / "user-passwords.json").read_text())[user])

    # ----------------------------------------------------------------- start
    @property
    def components(self) -> tuple[str, ...]:
        """Airflow components of this stack: :data:`COMPONENTS`, plus ``triggerer-2``... for more triggerers."""
        return (*COMPONENTS, *(f"triggerer-{n}" for n in range(2, self.triggerers + 1)))

    def start(self, timeout: float = 240.0) -> None:
        """Start everything and return once Airflow is healthy and the Courier DAGs are parsed."""
        self.started_at = time.monotonic()
        self._validate_courier_settings()
        if self.triggerers < 1:
            raise StackError(f"--triggerers must be 1 or more, not {self.triggerers}")
        if self.api_workers < 1:
            raise StackError(f"--api-workers must be 1 or more, not {self.api_workers}")
        self._make_home()
        self._end_leftovers()
        if not port_is_free(self.port):
            raise StackError(f"port {self.port} is already in use: stop what uses it or pass --port N")
        if not self.dags_folder.is_dir():
            raise StackError(f"DAG folder {self.dags_folder} does not exist: set COURIER_DAGS_FOLDER")
        (self.airflow_home / "plugins").mkdir(exist_ok=True)
        self.supervisor.start_watchdog()  # from here on, a killed `courier up` takes its children along
        (self.home / "stack.json").write_text(json.dumps({"stack_id": self.stack_id, "pid": os.getpid()}) + "\n")
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _make_home(self) -> None:
        """Create the home and its Airflow home, readable by this user only (0700)."""
        private_dir(self.home)
        private_dir(self.airflow_home)

    def _end_leftovers(self) -> None:
        """End what is left of an earlier stack on this home (its supervisor was killed), saying so."""
        path = self.home / "stack.json"
        try:
            earlier = json.loads(path.read_text())
            stack_id, pid = str(earlier["stack_id"]), int(earlier["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return
        if stack_id == self.stack_id:
            return
        import psutil

        if pid != os.getpid() and psutil.pid_exists(pid):
            try:
                alive = psutil.Process(pid).status() != psutil.STATUS_ZOMBIE and any(
                    proc.pid != pid for proc in tagged_processes(stack_id)
                )
            except psutil.Error:
                alive = False
            if alive:
                raise StackError(f"another `courier up` (pid {pid}) is running on {self.home}: stop it first")
        ended = end_stack(stack_id)
        if ended:
            self.progress(
                f"  ok  ended {len(ended)} leftover process(es) of an earlier `courier up` on this home "
                f"(pid {pid}, stack {stack_id[:8]}): {', '.join(map(str, sorted(set(ended))))}"
            )

    def _validate_courier_settings(self) -> None:
        """Check [courier] as the components will see it, before anything starts; a bad value is named."""
        from courier.config import load as load_config

        prefix = "AIRFLOW__COURIER__"
        env = {**os.environ, **self.extra_env}
        load_config({k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)})

    def _start(self, timeout: float) -> None:
        stack_secrets = Secrets.load_or_create(self.home / "secrets.json")
        self.admin_password = self._admin_password()
        metadata_url, courier_url = self._databases()
        self.courier_url = courier_url
        self._write_airflow_cfg(metadata_url, stack_secrets)
        self.env = self._component_env(courier_url, stack_secrets)

        self._step("migrating Airflow's metadata database", self._airflow, "db", "migrate")
        self._step("creating Courier's Airflow pools (courier pools sync)", self._courier, "pools", "sync")
        with psycopg.connect(courier_url, autocommit=True) as conn:
            applied = db_migrate.migrate(conn)
            version = db_migrate.current_version(conn)
        self.progress(f"  ok  Courier database at schema version {version} ({len(applied)} migration(s) applied)")

        self._start_demo()
        for name in self.components:
            self.start_component(name)
        self._write_env_file()
        self.progress(f"  ..  started {', '.join(self.components)}; logs in {self.supervisor.log_dir}")
        deadline = time.monotonic() + timeout
        self._wait("api-server to answer", deadline, self._api_answers)
        self._wait("scheduler, triggerer and dag-processor heartbeats", deadline, self._components_healthy)
        self._wait("the Courier DAGs to be parsed", deadline, self._dags_parsed)

    def _start_demo(self) -> None:
        """Start the demo upstream and point the Courier connections at it (unless the user set them)."""
        from courier.demo.server import wait_until_up

        port = free_port()
        self.demo_url = f"http://127.0.0.1:{port}"
        self.supervisor.start("demo", [sys.executable, "-m", "courier.demo", "--port", str(port)], self.env)
        wait_until_up(self.demo_url)
        (self.home / "demo-url").write_text(self.demo_url + "\n")
        for conn_id in (conn_id for domain in domains.DOMAINS for conn_id in domain.connections):
            key = f"AIRFLOW_CONN_{conn_id.upper()}"
            if key not in os.environ and key not in self.extra_env:
                self.env[key] = connection_value(conn_id, self.demo_url)
        self.progress(f"  ok  demo upstream on {self.demo_url}")

    def _admin_password(self) -> str:
        return write_passwords(self.home, self.airflow_home)

    def _databases(self) -> tuple[str, str]:
        """Return (Airflow metadata URL, Courier URL), starting the embedded server unless both are external."""
        external_meta = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
        external_courier = os.environ.get("COURIER_DATABASE_URL")
        if external_meta and external_courier:
            self.progress("  ok  using external databases (AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, COURIER_DATABASE_URL)")
            return external_meta, external_courier
        began = time.monotonic()
        self.postgres = EmbeddedPostgres(self.home / "postgres", self.supervisor, port=self._postgres_port())
        created = self.postgres.init()
        self.postgres.start()
        for name in ("airflow", "courier"):
            self.postgres.ensure_database(name)
        what = "initialised and started" if created else "started (existing data)"
        if self.postgres.upgraded:
            what += f"; now requires the password in {self.postgres.password_file} (pg_hba.conf rewritten)"
        self.progress(f"  ok  PostgreSQL {what} on 127.0.0.1:{self.postgres.port} ({time.monotonic() - began:.1f}s)")
        meta = external_meta or self.postgres.url("airflow").replace("postgresql://", "postgresql+psycopg2://", 1)
        return meta, external_courier or self.postgres.url("courier")

    def _postgres_port(self) -> int:
        """Keep the same PostgreSQL port across restarts when it is free, so saved settings stay valid."""
        path = self.home / "postgres.port"
        if path.exists():
            port = int(path.read_text())
            if port_is_free(port):
                return port
        port = free_port()
        path.write_text(str(port))
        return port

    def _write_airflow_cfg(self, metadata_url: str, stack_secrets: Secrets) -> None:
        settings = AirflowSettings(
            self.home, self.airflow_home, self.dags_folder, self.port, self.api_workers, self.triggerers
        )
        write_airflow_cfg(settings, metadata_url, stack_secrets)

    def _component_env(self, courier_url: str, stack_secrets: Secrets) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AIRFLOW_HOME=str(self.airflow_home),
            COURIER_HOME=str(self.home),
            AIRFLOW_CONN_COURIER_DB=connection_value("courier_db", courier_url),
            PYTHONUNBUFFERED="1",
            # a component that dies in C code (a segfault) leaves every thread's Python traceback in its log
            PYTHONFAULTHANDLER="1",
        )
        env.setdefault("AIRFLOW__COURIER__STORAGE_BASE", (self.home / "data").as_uri())
        env.update(self.extra_env)
        return env

    def _write_env_file(self) -> None:
        write_env_file(self.home / "env.sh", self.env)

    def _airflow_argv(self) -> list[str]:
        script = Path(sys.executable).with_name("airflow")
        return [str(script)] if script.exists() else [sys.executable, "-m", "airflow"]

    def _airflow(self, *args: str) -> None:
        import subprocess

        result = subprocess.run(
            [*self._airflow_argv(), *args], env={**self.env}, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise StackError(f"`airflow {' '.join(args)}` failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def _courier(self, *args: str) -> None:
        """Run a ``courier`` command with the stack's environment (its airflow.cfg and connections)."""
        import subprocess

        result = subprocess.run(
            [sys.executable, "-m", "courier.cli", *args], env={**self.env}, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise StackError(f"`courier {' '.join(args)}` failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")

    def _step(self, what: str, func: Callable[..., Any], *args: Any) -> None:
        began = time.monotonic()
        self.progress(f"  ..  {what}")
        func(*args)
        self.progress(f"  ok  {what} ({time.monotonic() - began:.1f}s)")

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        self.progress(f"  ..  waiting for {what}")
        began = time.monotonic()
        while True:
            dead = self.supervisor.failed()
            if dead:
                child = dead[0]
                tail = "\n".join(child.log_path.read_text(errors="replace").splitlines()[-25:])
                raise StackError(
                    f"{child.name} exited with code {child.process.returncode}; log {child.log_path}:\n{tail}"
                )
            if ready():
                self.progress(f"  ok  {what} ({time.monotonic() - began:.1f}s, {self.elapsed():.1f}s since start)")
                return
            if time.monotonic() > deadline:
                raise StackError(f"timed out waiting for {what}; logs in {self.supervisor.log_dir}")
            time.sleep(0.5)

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def _api_answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def health(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json())

    def _components_healthy(self) -> bool:
        try:
            health = self.health()
        except (httpx.HTTPError, ValueError):
            return False
        keys = ("metadatabase", *HEALTH_KEYS)
        return all((health.get(k) or {}).get("status") == "healthy" for k in keys)

    def _dags_parsed(self) -> bool:
        expected = len(courier_dag_files(self.dags_folder))
        api = self.api()
        try:
            errors = api.request("GET", "/api/v2/importErrors").json()
            if errors.get("total_entries"):
                first = errors["import_errors"][0]
                raise StackError(f"DAG import error in {first['filename']}:\n{first['stack_trace']}")
            return len(api.dags(tag="courier")) >= expected
        except httpx.HTTPError:
            return False
        finally:
            api.close()

    # ----------------------------------------------------------------- run and stop
    def watch(self) -> None:
        """Supervise until interrupted: restart what exits (with backoff); raise on a crash loop."""
        while True:
            self.supervise()
            time.sleep(0.2)

    def supervise(self) -> None:
        """Restart exited children once their backoff has passed; raise :class:`StackError` on a crash loop.

        Each exit prints one line ("triggerer exited with code -9; restarted (1st time in 10 min)"). A child
        that exits :attr:`RestartPolicy.crash_loop` times within :attr:`RestartPolicy.crash_window` seconds
        stops the stack with the last lines of its log.
        """
        now = time.monotonic()
        for child in self.supervisor.failed():
            due = self._respawn_at.get(child.name)
            if due is None:
                policy = self.restart_policy
                count, looping, delay = policy.record_exit(child.name, now)
                code = child.process.returncode
                if looping:
                    raise StackError(
                        f"{child.name} is crash-looping ({policy.crash_loop} exits within "
                        f"{policy.crash_window:g}s, last with code {code}); stopping. "
                        f"Last lines of {child.log_path}:\n{child.tail()}"
                    )
                self.progress(f"  !!  {policy.describe(child.name, code, count)}" + (
                    f" in {delay:.1f}s" if delay >= 1 else ""))  # fmt: skip
                self._respawn_at[child.name] = due = now + delay
            if now >= due:
                del self._respawn_at[child.name]
                self.supervisor.respawn(child)  # PostgreSQL too: clients reconnect once it accepts again

    def start_component(self, name: str) -> None:
        """Start one Airflow component (``api-server``, ``scheduler``, ``dag-processor``, ``triggerer[-N]``)."""
        if name not in self.components:
            raise ValueError(f"unknown component {name!r}; one of {', '.join(self.components)}")
        kind, _, number = name.partition("-") if name.startswith("triggerer") else (name, "", "")
        argv = [*self._airflow_argv(), kind]
        if name == "api-server":
            argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        env = self.env
        if kind == "triggerer" and self.triggerers > 1:
            argv += ["--queues", f"default,{TIMER_QUEUE.format(int(number or 1))}"]
        if number:  # a second triggerer on this machine needs its own log server port
            env = {**env, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
        self.supervisor.start(name, argv, env)

    def stop_component(self, name: str) -> None:
        """Stop one Airflow component (its children too), as an outage or a rolling restart would."""
        if name not in self.components:
            raise ValueError(f"unknown component {name!r}; one of {', '.join(self.components)}")
        self.supervisor.stop_child(name)

    def stop(self) -> None:
        """Stop every component and PostgreSQL (last), leaving no process behind."""
        self.supervisor.stop(keep=("postgres",))
        self.supervisor.stop()

    def leftovers(self) -> list[int]:
        """Return pids of processes of this stack still running (tagged, or PostgreSQL on its data dir)."""
        pids = {p.pid for p in tagged_processes(self.stack_id)}
        if self.postgres is not None:
            import psutil

            needle = str(self.postgres.data_dir)
            for proc in psutil.process_iter(["cmdline"]):
                if needle in " ".join(proc.info["cmdline"] or []):
                    pids.add(proc.pid)
        return sorted(pids)
