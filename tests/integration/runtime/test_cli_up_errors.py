"""`courier up` refuses bad set-ups at once, with one clear line and no traceback, starting nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def _up(home: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "courier.cli", "up", "--home", str(home), "--port", str(port)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _up(tmp_path / "home", port)
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "home" / "postgres").exists()  # nothing was started


def test_invalid_setting_names_key_and_accepted_values(tmp_path: Path) -> None:
    result = _up(tmp_path / "home", 1, AIRFLOW__COURIER__EXECUTION_MODE="docker")
    assert result.returncode == 1
    assert "[courier] execution_mode = 'docker' is invalid" in result.stderr
    assert "local | kubernetes" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "home" / "postgres").exists()
