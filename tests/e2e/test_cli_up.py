"""`courier up` as a user runs it: a subprocess, Ctrl-C to stop, nothing left behind.

This module runs before the shared session stack starts (collection order), so the two never compete.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.helpers import free_port


def _processes_of(home: Path) -> list[int]:
    """Pids whose command line or environment mention ``home`` (the stack's children, PostgreSQL included)."""
    needle = str(home)
    pids = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        try:
            text = " ".join(proc.info["cmdline"] or []) + " ".join((proc.info["environ"] or {}).values())
        except (psutil.Error, TypeError):
            continue
        if needle in text and proc.pid != os.getpid():
            pids.append(proc.pid)
    return pids


def test_courier_up_serves_then_ctrl_c_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {**os.environ, "COURIER_ADMIN_PASSWORD": "e2e-secret-pw", "COURIER_HOME": str(home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "courier.cli", "up", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 180
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C to stop." in line:
                break
        output = "".join(lines)
        assert "Press Ctrl-C to stop." in output, output
        assert f"UI:     http://127.0.0.1:{port}" in output
        assert "admin / e2e-secret-pw" in output
        assert "waiting for" in output  # progress is shown while starting
        assert (home / "admin-password").read_text().strip() == "e2e-secret-pw"

        # `courier airflow ...` runs the airflow CLI against this stack
        listed = subprocess.run(
            [sys.executable, "-m", "courier.cli", "airflow", "dags", "list", "-o", "plain"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr
        assert "courier_selfcheck" in listed.stdout

        plugins = subprocess.run(
            [sys.executable, "-m", "courier.cli", "airflow", "plugins", "-o", "json"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert plugins.returncode == 0, plugins.stderr
        assert '"courier"' in plugins.stdout

        assert len(_processes_of(home)) >= 6  # postgres, demo, api-server, scheduler, dag-processor, triggerer

        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = proc.communicate(timeout=90)
        assert proc.returncode == 0, rest
        assert "stopped" in rest and "left behind" not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while _processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _processes_of(home) == []
