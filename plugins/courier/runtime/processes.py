"""Child processes of the embedded stack: started in their own process groups, tagged, and stopped for sure.

Every child gets ``COURIER_STACK_ID`` in its environment. Airflow components fork workers and task
processes of their own; the tag lets :meth:`Supervisor.stop` find and end every descendant, even one
that left its process group, so a stopped stack leaves no orphans.

Children never outlive the supervising process, even when it is killed with SIGKILL: each child asks the
kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``), and a small watchdog process
(``python -m courier.runtime.processes watchdog``) ends every tagged descendant (grandchildren that
``PR_SET_PDEATHSIG`` does not reach) once the supervisor is gone.

The tag is not enough on its own: a process that renames itself (``setproctitle``, as Airflow's LocalExecutor
workers do: "airflow worker -- LocalExecutor") overwrites the memory ``/proc/<pid>/environ`` shows, so it
carries no readable tag. Each child is therefore also the leader of a session of its own, and the supervisor
records those session ids (in ``<log_dir>/sessions``, for the watchdog): every process still in the session
of a child that was started is ended along with the tagged ones. :meth:`Supervisor.respawn` starts an
exited child again with the same command; :class:`RestartPolicy` says when and how often.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from courier.procs import die_with_parent

STACK_ID_ENV = "COURIER_STACK_ID"
COMPONENT_ENV = "COURIER_COMPONENT"
"""Which child of the stack a process belongs to (inherited by everything it forks, like the tag)."""
log = logging.getLogger(__name__)


def ordinal(n: int) -> str:
    """Return ``1st``, ``2nd``, ``3rd``, ``4th``, ... ``11th``, ``21st``."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


@dataclass
class RestartPolicy:
    """When an exited child is started again, and when its exits count as a crash loop.

    :param crash_loop: this many exits of one child ...
    :param crash_window: ... within this many seconds is a crash loop: the stack stops.
    :param report_window: the restart line counts exits over this many seconds ("2nd time in 10 min").
    :param first_delay: backoff before the first restart; doubled for each recent exit, up to ``max_delay``.
    """

    crash_loop: int = 5
    crash_window: float = 120.0
    report_window: float = 600.0
    first_delay: float = 2.0  # lets a surviving peer take over before a restart competes for the CPU
    max_delay: float = 15.0
    exits: dict[str, deque[float]] = field(default_factory=dict)

    def record_exit(self, name: str, now: float | None = None) -> tuple[int, bool, float]:
        """Record an exit of ``name``; return (exits in the report window, crash loop?, backoff seconds)."""
        now = time.monotonic() if now is None else now
        times = self.exits.setdefault(name, deque())
        times.append(now)
        while times and times[0] < now - self.report_window:
            times.popleft()
        recent = sum(1 for t in times if t >= now - self.crash_window)
        delay = min(self.first_delay * 2 ** (recent - 1), self.max_delay)
        return len(times), recent >= self.crash_loop, delay

    def describe(self, name: str, code: int | None, count: int) -> str:
        minutes = f"{self.report_window / 60:g} min"
        return f"{name} exited with code {code}; restarted ({ordinal(count)} time in {minutes})"


def tagged_processes(stack_id: str, component: str | None = None) -> list[psutil.Process]:
    """Return running processes whose environment carries ``COURIER_STACK_ID=<stack_id>`` (and, when
    ``component`` is given, ``COURIER_COMPONENT=<component>``): a child and all it forked, even in other
    process groups (Airflow's task and trigger runners set their own)."""
    markers = {f"{STACK_ID_ENV}={stack_id}".encode()}
    if component is not None:
        markers.add(f"{COMPONENT_ENV}={component}".encode())
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                if markers <= set(fh.read().split(b"\0")):
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
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None

    def tail(self, lines: int = 25) -> str:
        """Return the last ``lines`` lines of the child's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def as_user(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` with that user's group only (not root's)."""
    if user is None:
        return {}
    import pwd

    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class Supervisor:
    """Start named children with a shared tag and stop all of them (and their descendants)."""

    def __init__(self, stack_id: str, log_dir: Path) -> None:
        self.stack_id = stack_id
        self.log_dir = log_dir
        self.children: list[Child] = []
        self.watchdog: subprocess.Popen[bytes] | None = None

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
        child_env = {**env, STACK_ID_ENV: self.stack_id, COMPONENT_ENV: name}
        ident = as_user(user)
        process = subprocess.Popen(
            argv,
            env=child_env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches `courier up` only; it stops the children itself
            user=ident.get("user"),
            group=ident.get("group"),
            extra_groups=ident.get("extra_groups"),
            preexec_fn=die_with_parent,  # runs after the switch to `user`, which would clear it
        )
        child = Child(name, process, log_path, log_file, stop_signal, argv, env, user)
        self.children.append(child)
        self._write_sessions()
        log.debug("started %s (pid %d): %s", name, process.pid, " ".join(argv))
        return child

    def respawn(self, child: Child) -> Child:
        """Start an exited ``child`` again with the same command, after ending everything it left behind."""
        _kill_group(child.process.pid, signal.SIGKILL)
        self.kill_component(child.name)
        child.log_file.close()
        self.children.remove(child)
        return self.start(child.name, child.argv, child.env, user=child.user, stop_signal=child.stop_signal)

    @property
    def sessions(self) -> set[int]:
        """Session ids of the current children (each leads a session of its own: its sid is its pid)."""
        return {c.process.pid for c in self.children}

    @property
    def sessions_file(self) -> Path:
        return self.log_dir / "sessions"

    def _write_sessions(self) -> None:
        """Record the current children's sessions for the watchdog (only current ones: a dead child's pid may
        be reused by an unrelated process)."""
        self.sessions_file.write_text("".join(f"{pid}\n" for pid in sorted(self.sessions)))

    def start_watchdog(self) -> None:
        """Start the process that ends every tagged descendant if this one dies without stopping them."""
        if self.watchdog is not None and self.watchdog.poll() is None:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._write_sessions()
        argv = [
            sys.executable,
            "-m",
            "courier.runtime.processes",
            "watchdog",
            str(os.getpid()),
            self.stack_id,
            str(self.sessions_file),
        ]
        self.watchdog = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True)

    def failed(self) -> list[Child]:
        """Return children that have exited."""
        return [c for c in self.children if c.process.poll() is not None]

    def stop_child(self, name: str, timeout: float = 20.0) -> None:
        """Stop one child (SIGTERM, then SIGKILL after ``timeout``) and what it forked, and forget it."""
        for child in [c for c in self.children if c.name == name]:
            _terminate_groups([child], timeout)
            self.kill_component(name)
            child.log_file.close()
            self.children.remove(child)

    def kill_component(self, name: str) -> list[int]:
        """SIGKILL every process of child ``name`` (it and all it forked, in any process group)."""
        sessions = {c.process.pid for c in self.children if c.name == name}  # a dead child's too, before respawn
        return _kill_with_groups(tagged_processes(self.stack_id, name) + session_members(sessions))

    def stop(self, timeout: float = 20.0, *, keep: tuple[str, ...] = ()) -> None:
        """Stop children (all signalled at once, SIGKILL for what is left after ``timeout``; ``keep`` to stop
        those later, as PostgreSQL after its clients), then any stragglers (tagged, or in a stopped child's
        session)."""
        stopping = [c for c in self.children if c.name not in keep]
        _terminate_groups(stopping, timeout)
        for child in stopping:
            child.log_file.close()
        session_stragglers = _kill_with_groups(session_members({c.process.pid for c in stopping}))
        if session_stragglers:
            log.warning("killed %d process(es) left in stopped children's sessions", len(session_stragglers))
        self.children = [c for c in self.children if c.name in keep]
        if self.children:
            self._write_sessions()
        else:
            leftovers = end_stack(self.stack_id)
            if leftovers:
                log.warning("killed %d leftover process(es): %s", len(leftovers), sorted(set(leftovers)))
            if self.watchdog is not None:
                self.watchdog.kill()
                self.watchdog.wait()
                self.watchdog = None


def _terminate_groups(children: list[Child], timeout: float) -> None:
    """Send each child's process group its stop signal at once, give them ``timeout`` seconds together to
    exit, then SIGKILL what is left of every group (a shutdown costs the slowest child's time, not the sum)."""
    for child in children:
        if child.process.poll() is None:
            _kill_group(child.process.pid, child.stop_signal)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(c.process.poll() is None for c in children):
        time.sleep(0.1)
    for child in children:
        _kill_group(child.process.pid, signal.SIGKILL)  # the child if still running, and its descendants
        child.process.wait()


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_with_groups(procs: list[psutil.Process]) -> list[int]:
    """SIGKILL ``procs`` and the process groups they are in; return the pids of ``procs`` killed.

    A tagged process may share its group with processes that dropped the tag: Chromium's zygote and
    renderers start with a cleaned environment, in the group of the browser (which Playwright starts in a
    group of its own). Every group of a stack process was made by the stack, except this process's own.
    """
    own_group = os.getpgrp()
    killed = []
    for proc in procs:
        with contextlib.suppress(psutil.Error, OSError):
            group = os.getpgid(proc.pid)
            proc.kill()
            killed.append(proc.pid)
            if group != own_group:
                _kill_group(group, signal.SIGKILL)
    return killed


def session_members(sessions: set[int] | frozenset[int]) -> list[psutil.Process]:
    """Running processes in any of ``sessions`` (session ids), this process excluded."""
    if not sessions:
        return []
    found = []
    for pid in psutil.pids():
        if pid == os.getpid():
            continue
        with contextlib.suppress(OSError, psutil.Error):
            if os.getsid(pid) in sessions:
                found.append(psutil.Process(pid))
    return found


def end_stack(stack_id: str, sessions: set[int] | frozenset[int] = frozenset(), rounds: int = 20) -> list[int]:
    """SIGKILL every process tagged with ``stack_id`` or in one of its children's ``sessions``, with their
    process groups (repeatedly: a dying parent may fork); return their pids."""
    ended: list[int] = []
    for _ in range(rounds):
        found = tagged_processes(stack_id) + session_members(sessions)
        if not found:
            break
        ended += _kill_with_groups(found)
        time.sleep(0.1)
    return ended


def _watchdog(parent: int, stack_id: str, sessions_file: Path, interval: float = 0.2) -> None:
    """Wait for ``parent`` to die, then end every process of its stack (tagged, or in a child's session)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the terminal is for `courier up`
    while os.getppid() == parent and psutil.pid_exists(parent):
        time.sleep(interval)
    try:
        sessions = {int(line) for line in sessions_file.read_text().split()}
    except (OSError, ValueError):
        sessions = set()
    end_stack(stack_id, sessions)


if __name__ == "__main__":  # python -m courier.runtime.processes watchdog <parent pid> <stack id> <sessions file>
    if len(sys.argv) == 5 and sys.argv[1] == "watchdog":
        _watchdog(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
    else:
        sys.exit("usage: python -m courier.runtime.processes watchdog <parent pid> <stack id> <sessions file>")
