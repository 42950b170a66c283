"""A spec cell's processes end with it: past its timeout (a browser in a group of its own too) and when the
worker running it is killed (real processes, checked with psutil)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from courier.specs.models import Claim
from courier.specs.runner import run_cell

pytestmark = pytest.mark.timeout(60)


def _claim(tmp_path: Path, script: str, timeout: float) -> Claim:
    return Claim(
        run_id="r", key="k", spec_id="s", browser="chromium", viewport="desktop", width=1280, height=800,
        run=("sh", "-c", script), workdir=str(tmp_path), timeout=timeout, retries=0, attempt=1, failures=0,
        owner="test",
    )  # fmt: skip


def _gone(pid: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{path} was not written")


def test_a_timed_out_cell_takes_a_browser_in_its_own_group_along(tmp_path: Path) -> None:
    pid_file = tmp_path / "browser.pid"
    # Playwright starts the browser in a process group of its own: killing the cell's group alone misses it
    outcome = run_cell(
        _claim(tmp_path, f"setsid sleep 300 & echo $! > {pid_file}; sleep 300", 1.0), "http://x", tmp_path / "a"
    )
    assert outcome.status == "timed_out"
    assert _gone(_pid(pid_file)), "the browser-like process outlived its cell"


_WORKER = """
import sys
from pathlib import Path
from courier.specs.models import Claim
from courier.specs.runner import run_cell
claim = Claim("r", "k", "s", "chromium", "desktop", 1280, 800, ("sh", "-c", sys.argv[2]), sys.argv[1], 60.0, 0, 1, 0, "t")
run_cell(claim, "http://x", Path(sys.argv[1]) / "a")
"""


def test_a_cell_dies_with_the_task_process_running_it(tmp_path: Path) -> None:
    pid_file = tmp_path / "cell.pid"
    worker = subprocess.Popen([sys.executable, "-c", _WORKER, str(tmp_path), f"echo $$ > {pid_file}; exec sleep 300"])
    try:
        cell = _pid(pid_file)
        worker.send_signal(signal.SIGKILL)  # what a lost task process gets
        worker.wait()
        assert _gone(cell), "the cell outlived the task process that ran it"
    finally:
        worker.kill()
