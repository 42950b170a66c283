"""A Docker engine for the deploy tests: reuse the one that answers, or start ``dockerd`` and undo it after.

Starting ``dockerd`` changes the host: it creates the ``docker0`` bridge, adds iptables chains (DOCKER,
DOCKER-USER, DOCKER-ISOLATION-STAGE-*) and NAT rules, and may switch on IPv4 forwarding. :class:`DockerEngine`
records ``iptables-save``, the network links and ``net.ipv4.ip_forward`` before it starts the daemon, and
after stopping it (by its pid) deletes the links the daemon added and restores the iptables rules and the
sysctl to what they were. The image store stays in /var/lib/docker, so built images survive for the next run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SOCKET = Path("/var/run/docker.sock")
LOG = Path("/var/log/courier-tests-dockerd.log")
LOCK = Path("/run/courier-tests-dockerd.lock")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def docker_answers() -> bool:
    """True if a daemon answers on the default socket."""
    if not SOCKET.exists():
        return False
    result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return result.returncode == 0 and bool(result.stdout.strip())


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":", 2)[1].strip().split("@", 1)[0] for line in out.splitlines() if line.strip()}


# Built-in chains of each iptables table: a table that was not loaded before dockerd is restored empty.
_BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}


def _tables(dump: str) -> dict[str, str]:
    """``iptables-save`` output split into its tables (``*name`` … ``COMMIT``)."""
    tables: dict[str, str] = {}
    name, lines = "", []
    for line in dump.splitlines():
        if line.startswith("*"):
            name, lines = line[1:].strip(), [line]
        elif name:
            lines.append(line)
            if line.strip() == "COMMIT":
                tables[name] = "\n".join(lines) + "\n"
                name = ""
    return tables


def restore_input(before: str, now: str) -> str:
    """What to feed ``iptables-restore`` to get back to ``before``: its tables as they were, and every table
    that exists now but did not then (dockerd loads filter and nat) flushed, its chains deleted, policies ACCEPT."""
    then = _tables(before)
    out = []
    for table in _tables(now):
        if table in then:
            out.append(then[table])
        else:
            chains = "".join(f":{chain} ACCEPT [0:0]\n" for chain in _BUILTIN_CHAINS.get(table, ()))
            out.append(f"*{table}\n{chains}COMMIT\n")
    out += [text for table, text in then.items() if table not in _tables(now)]
    return "".join(out)


def _iptables_save() -> str | None:
    if shutil.which("iptables-save") is None:
        return None
    result = subprocess.run(["iptables-save"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


@dataclass
class DockerEngine:
    """The engine the deploy tests use. ``started`` tells whether this session started (and will stop) it."""

    started: bool = False
    pid: int | None = None
    server_version: str = ""
    _iptables_before: str | None = None
    _links_before: set[str] = field(default_factory=set)
    _ip_forward_before: str | None = None
    _process: subprocess.Popen[bytes] | None = None

    @classmethod
    def acquire(cls, timeout: float = 60.0) -> DockerEngine:
        """Reuse a running daemon, or start one (serialised with a lock file between test sessions)."""
        missing = [tool for tool in ("docker", "dockerd", "docker-compose") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"missing {missing}: run `make docker-tools` (apt-get install docker.io docker-compose)")
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        with LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            engine = cls()
            if not docker_answers():
                engine._start(timeout)
            engine.server_version = subprocess.run(
                ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, check=True
            ).stdout.strip()
            return engine

    def _start(self, timeout: float) -> None:
        if os.geteuid() != 0:
            raise RuntimeError("no Docker daemon answers on /var/run/docker.sock and starting dockerd needs root")
        self._iptables_before = _iptables_save()
        self._links_before = _links()
        self._ip_forward_before = IP_FORWARD.read_text().strip() if IP_FORWARD.exists() else None
        LOG.parent.mkdir(parents=True, exist_ok=True)
        with LOG.open("ab") as log:
            log.write(
                f"\n--- dockerd started by tests/deploy at {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode()
            )
            self._process = subprocess.Popen(
                ["dockerd", "--host", f"unix://{SOCKET}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid = self._process.pid
        self.started = True
        deadline = time.monotonic() + timeout
        while not docker_answers():
            if self._process.poll() is not None:
                self.started = False
                self._restore_host()
                raise RuntimeError(f"dockerd exited with {self._process.returncode}; see {LOG}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dockerd did not answer within {timeout:.0f} s; see {LOG}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop the daemon if this session started it (by its pid), then undo its changes to the host network."""
        if not self.started or self._process is None:
            return
        with LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if self._process.poll() is None:
                self._process.send_signal(signal.SIGTERM)
                try:
                    self._process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=30)
            self.started = False
            self._restore_host()

    def _restore_host(self) -> None:
        for link in sorted(_links() - self._links_before):
            subprocess.run(["ip", "link", "delete", link], capture_output=True)
        now = _iptables_save()
        if self._iptables_before is not None and now is not None:
            subprocess.run(["iptables-restore"], input=restore_input(self._iptables_before, now), text=True, check=True)
        if self._ip_forward_before is not None:
            with contextlib.suppress(OSError):
                IP_FORWARD.write_text(self._ip_forward_before + "\n")

    def host_leftovers(self) -> list[str]:
        """What the daemon left on the host network after :meth:`stop` (should be empty)."""
        left = [f"link {name}" for name in sorted(_links() - self._links_before)]
        now = _iptables_save()
        if self._iptables_before is not None and now is not None:
            before = {line for line in self._iptables_before.splitlines() if line.startswith(("-A", ":"))}
            left += [f"iptables {line}" for line in now.splitlines() if line.startswith("-A") and line not in before]
            left += [
                f"iptables chain {line.split()[0]}"
                for line in now.splitlines()
                if line.startswith(":DOCKER") and not any(b.startswith(line.split()[0] + " ") for b in before)
            ]
        return left
