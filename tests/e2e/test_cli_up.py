"""`courier up` as a user runs it: a subprocess, stopped with Ctrl-C or SIGTERM, restarted on the same home.

This module runs before the shared session stack starts (collection order), so the two never compete.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers import free_port


def _processes_of(home: Path) -> list[int]:
    """Pids whose command line or environment mention ``home`` (the stack's children, PostgreSQL included)."""
    needle = str(home)
    stack_id = ""  # a spec cell's processes carry the stack's tag, not the home (cells get no Airflow settings)
    with contextlib.suppress(OSError, ValueError, KeyError):
        stack_id = str(json.loads((home / "stack.json").read_text())["stack_id"])
    pids = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            environ = proc.info["environ"] or {}
            text = " ".join(proc.info["cmdline"] or []) + " ".join(environ.values())
        except (psutil.Error, TypeError):
            continue
        tagged = bool(stack_id) and environ.get("COURIER_STACK_ID") == stack_id
        if (needle in text or tagged) and proc.pid != os.getpid():
            pids.append(proc.pid)
    return pids


def _wait_for_browsers(home: Path, timeout: float = 120) -> None:
    """Wait until the stack runs a Playwright driver (``node``) or Chromium: the processes a spec cell starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        names = set()
        for pid in _processes_of(home):
            with contextlib.suppress(psutil.Error):
                names.add(psutil.Process(pid).name())
        if any(name.startswith(("node", "chrom")) for name in names):  # Playwright's driver is "node-MainThread"
            return
        time.sleep(0.5)
    raise AssertionError(f"no browser started within {timeout:g}s")


def _start(env: dict[str, str], port: int) -> tuple[subprocess.Popen[str], str]:
    """Run `courier up` and return once it says it is up (with everything it printed)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "courier.cli", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C to stop." in line:
            break
    output = "".join(lines)
    if "Press Ctrl-C to stop." not in output:
        proc.kill()
        raise AssertionError(f"courier up did not come up:\n{output}")
    return proc, output


def _airflow(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "courier.cli", "airflow", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _stop(proc: subprocess.Popen[str], sig: int) -> str:
    proc.send_signal(sig)
    try:
        rest, _ = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        rest, _ = proc.communicate()
        raise AssertionError(f"courier up did not stop within 180 s; it printed:\n{rest}") from None
    assert proc.returncode == 0, rest
    assert "stopped" in rest and "left behind" not in rest
    return rest


def test_courier_up_serves_stops_and_restarts_with_its_data() -> None:
    # not under pytest's tmp_path: a later pytest session resets pytest-of-<user> to 0700, and PostgreSQL
    # (run as its own user when we are root) could no longer reach its data (as in test_chaos.py)
    base = Path(tempfile.mkdtemp(prefix="courier-cli-up-"))
    try:
        _serve_stop_restart(base / "home")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _serve_stop_restart(home: Path) -> None:
    port = free_port()
    env = {**os.environ, "COURIER_HOME": str(home)}
    first_env = {**env, "COURIER_ADMIN_PASSWORD": "e2e-secret-pw"}
    proc, output = _start(first_env, port)
    try:
        assert f"UI:     http://127.0.0.1:{port}" in output
        assert "e2e-secret-pw" not in output  # the password stays in its 0600 file, off the terminal
        assert f"password in {home / 'admin-password'}" in output
        assert "database system will be owned" not in output  # initdb's output is in the home's log
        _assert_private(home)
        assert "waiting for" in output  # progress is shown while starting
        seeded = "(Plugins -> Courier; demo data: 4 timer(s), 1 job(s), 1 fan-out run(s), 1 spec run(s))"
        assert seeded in output  # Courier's pages have data to show
        assert (home / "admin-password").read_text().strip() == "e2e-secret-pw"
        assert "courier_selfcheck" in _airflow(env, "dags", "list", "-o", "plain")
        assert '"courier"' in _airflow(env, "plugins", "-o", "json")
        _airflow(env, "dags", "trigger", "courier_selfcheck", "--run-id", "kept-across-restarts")
        assert len(_processes_of(home)) >= 6  # postgres, demo, api-server, scheduler, dag-processor, triggerer
        _airflow(env, "dags", "trigger", "spec_matrix")  # Ctrl-C must take its Playwright drivers and browsers too
        _wait_for_browsers(home)
        _stop(proc, signal.SIGINT)  # what Ctrl-C in the terminal sends
    finally:
        if proc.poll() is None:
            proc.kill()
    _wait_until_gone(home)

    # Second start on the same home: existing data, same admin password, the earlier run still there.
    proc, output = _start(env, port)
    try:
        assert "started (existing data)" in output
        assert "e2e-secret-pw" not in output
        assert "kept-across-restarts" in _airflow(env, "dags", "list-runs", "courier_selfcheck", "-o", "plain")
        _stop(proc, signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
    _wait_until_gone(home)


def _assert_private(home: Path) -> None:
    """The home is its user's (0700; 0710 for the server's group when PostgreSQL runs as its own user), every
    secret in it 0600, and the embedded server wants the password."""
    import stat

    import psycopg

    assert stat.S_IMODE(home.stat().st_mode) in (0o700, 0o710)
    for name in ("secrets.json", "admin-password", "user-passwords.json", "postgres-password", "env.sh",
                 "airflow/airflow.cfg", "airflow/simple_auth_manager_passwords.json"):  # fmt: skip
        assert stat.S_IMODE((home / name).stat().st_mode) == 0o600, name
    port = (home / "postgres.port").read_text().strip()
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(f"host=127.0.0.1 port={port} dbname=courier user=postgres passfile=/nonexistent", password="")


def _wait_until_gone(home: Path) -> None:
    deadline = time.monotonic() + 10
    while _processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(home) == []
