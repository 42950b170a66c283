"""Child processes of the embedded stack: started in their own process groups, tagged, and stopped for sure.

Every child gets ``COURIER_STACK_ID`` in its environment. Airflow components fork workers and task
processes of their own; the tag lets :meth:`Supervisor.stop` find and end every descendant, even one
that left its process group, so a stopped stack leaves no orphans.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

STACK_ID_ENV = "COURIER_STACK_ID"
log = logging.getLogger(__name__)


def tagged_processes(stack_id: str) -> list[psutil.Process]:
    """Return running processes whose environment carries ``COURIER_STACK_ID=<stack_id>``."""
    marker = f"{STACK_ID_ENV}={stack_id}".encode()
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if marker in fh.read().split(b"\0"):
                    found.append(psutil.Process(pid))
        except (OSError, psutil.Error):
            continue
    return found


@dataclass
class Child:
    """A started child process and where its output goes."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    stop_signal: int = signal.SIGTERM


class Supervisor:
    """Start named children with a shared tag and stop all of them (and their descendants)."""

    def __init__(self, stack_id: str, log_dir: Path) -> None:
        self.stack_id = stack_id
        self.log_dir = log_dir
        self.children: list[Child] = []

    def start(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        *,
        user: str | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Child:
        """Start ``argv`` as child ``name`` in a new session, its output in ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        log_file = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        child_env = {**env, STACK_ID_ENV: self.stack_id}
        process = subprocess.Popen(
            argv,
            env=child_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `courier up` only; it stops children in order
            user=user,
        )
        child = Child(name, process, log_path, log_file, stop_signal)
        self.children.append(child)
        log.debug("started %s (pid %d): %s", name, process.pid, " ".join(argv))
        return child

    def failed(self) -> list[Child]:
        """Return children that have exited."""
        return [c for c in self.children if c.process.poll() is not None]

    def stop_child(self, name: str, timeout: float = 20.0) -> None:
        """Stop one child (SIGTERM, then SIGKILL after ``timeout``) and forget it."""
        for child in [c for c in self.children if c.name == name]:
            _terminate_group(child.process, child.stop_signal, timeout)
            child.log_file.close()
            self.children.remove(child)

    def stop(self, timeout: float = 20.0, *, keep: tuple[str, ...] = ()) -> None:
        """Stop children newest first (SIGTERM, then SIGKILL after ``timeout``), then any tagged stragglers."""
        for child in reversed([c for c in self.children if c.name not in keep]):
            _terminate_group(child.process, child.stop_signal, timeout)
            child.log_file.close()
        self.children = [c for c in self.children if c.name in keep]
        if not self.children:
            for proc in tagged_processes(self.stack_id):
                log.warning("killing leftover process %d (%s)", proc.pid, proc.name())
                with contextlib.suppress(psutil.Error):
                    proc.kill()


def _terminate_group(process: subprocess.Popen[bytes], sig: int, timeout: float) -> None:
    if process.poll() is not None:
        _kill_group(process.pid, signal.SIGKILL)  # its descendants may outlive it
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    _kill_group(process.pid, signal.SIGKILL)
    process.wait()


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
