"""Run one cell: its ``run`` command as a process in its own process group, with the spec environment only
(the ``COURIER_SPEC_*`` variables and what any process needs, never the worker's environment and secrets).

Exit 0 passes; exit 77 (the automake/pytest convention) is *skipped* and its last output line is the reason;
any other exit fails. Past the spec's ``timeout`` (or when ``stop`` is set: the worker lost its lease) the
whole process group is killed, with the groups its descendants made, so a browser the check started dies with
it; and the process dies with the worker (``PR_SET_PDEATHSIG``), so a killed task leaves no cell behind. The full output goes to
``output.log`` in the artifacts folder and the last lines are kept for the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import psutil

from courier.procs import die_with_parent
from courier.specs.models import Claim, Outcome

SKIP_EXIT_CODE = 77
TAIL_LINES = 40
KILL_GRACE_SECONDS = 2.0
OUTPUT_LOG = "output.log"


PASSED_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM"}
    | {"VIRTUAL_ENV", "PYTHONPATH", "DISPLAY", "XDG_RUNTIME_DIR", "PLAYWRIGHT_BROWSERS_PATH"}
    | {"SSL_CERT_FILE", "SSL_CERT_DIR"}
    | {"COURIER_STACK_ID", "COURIER_COMPONENT"}
)
"""What a cell's process gets of the worker's environment (besides ``LC_*``): what any process needs, never
the worker's settings and secrets (``AIRFLOW__*``, ``AIRFLOW_CONN_*``, ``COURIER_DATABASE_URL``, ``AWS_*``...).
``COURIER_STACK_ID``/``COURIER_COMPONENT`` are ``courier up``'s process tags (random ids, no secret): with them
its stop, restarts and watchdog find a cell's browser even when it left its process group."""


def base_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the variables of ``environ`` (default: this process's) a cell may see: :data:`PASSED_VARIABLES`
    and the locale's ``LC_*``."""
    environ = os.environ if environ is None else environ
    return {k: v for k, v in environ.items() if k in PASSED_VARIABLES or k.startswith("LC_")}


def cell_environment(claim: Claim, base_url: str, artifacts: Path) -> dict[str, str]:
    """Return the ``COURIER_SPEC_*`` variables a cell's process gets (with :func:`base_environment`)."""
    return {
        "COURIER_SPEC_ID": claim.spec_id,
        "COURIER_SPEC_BROWSER": claim.browser,
        "COURIER_SPEC_VIEWPORT": claim.viewport,
        "COURIER_SPEC_VIEWPORT_SIZE": f"{claim.width}x{claim.height}",
        "COURIER_SPEC_BASE_URL": base_url,
        "COURIER_SPEC_ARTIFACTS": str(artifacts),
        "COURIER_SPEC_ATTEMPT": str(claim.attempt),
    }


def command(run: tuple[str, ...]) -> list[str]:
    """Return the argv to start; a leading ``python`` is the worker's own interpreter (same packages)."""
    argv = list(run)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    return argv


def _kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tree_groups(pid: int) -> set[int]:
    """The process group of the cell ``pid`` and every group its descendants made: Playwright starts a browser
    in a group of its own, which a kill of the cell's group alone would leave running."""
    groups = {pid}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(OSError):
                groups.add(os.getpgid(child.pid))
    return groups


def run_cell(
    claim: Claim, base_url: str, artifacts: Path, stop: threading.Event | None = None, tail_lines: int = TAIL_LINES
) -> Outcome:
    """Run ``claim``'s command to its end, its timeout or ``stop``; return the outcome."""
    artifacts.mkdir(parents=True, exist_ok=True)
    env = {**base_environment(), **cell_environment(claim, base_url, artifacts), "PYTHONUNBUFFERED": "1"}
    started_at = datetime.now(UTC)
    began = time.monotonic()
    tail: deque[str] = deque(maxlen=tail_lines)
    log_path = artifacts / OUTPUT_LOG
    try:
        process = subprocess.Popen(
            command(claim.run),
            cwd=claim.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout kills everything it started
            preexec_fn=die_with_parent,  # and it dies with this task process, even one killed with SIGKILL
        )
    except OSError as exc:
        return Outcome("failed", 0.0, started_at, None, f"cannot start {claim.run[0]!r}: {exc.strerror or exc}")

    def pump() -> None:
        assert process.stdout is not None
        with log_path.open("wb") as log:
            for raw in process.stdout:
                log.write(raw)
                tail.append(raw.decode("utf-8", "replace").rstrip("\r\n"))

    reader = threading.Thread(target=pump, name=f"output-{claim.key}", daemon=True)
    reader.start()
    deadline = began + claim.timeout
    timed_out = stopped = False
    while process.poll() is None:
        if time.monotonic() >= deadline:
            timed_out = True
        elif stop is not None and stop.is_set():
            stopped = True
        if timed_out or stopped:
            groups = _tree_groups(process.pid)  # before SIGTERM: a dying cell's children are reparented
            _kill_group(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(KILL_GRACE_SECONDS)
            for group in groups:
                _kill_group(group, signal.SIGKILL)
            process.wait()
            break
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(0.1)
    _kill_group(process.pid, signal.SIGKILL)  # whatever it left running in its group goes too
    reader.join(5)
    duration_ms = (time.monotonic() - began) * 1000
    code = process.returncode
    lines = [line for line in tail if line.strip()]
    last = lines[-1].strip() if lines else ""
    output = "\n".join(tail)
    names = tuple(sorted(p.relative_to(artifacts).as_posix() for p in artifacts.rglob("*") if p.is_file()))
    if timed_out:
        status, reason = "timed_out", f"timed out after {claim.timeout:g}s (process group killed)"
    elif stopped:
        status, reason = "failed", "stopped: this worker lost the cell's lease"
    elif code == 0:
        status, reason = "passed", None
    elif code == SKIP_EXIT_CODE:
        status, reason = "skipped", last or "skipped (exit 77)"
    else:
        status = "failed"
        reason = f"exit code {code}" + (f": {last}" if last else "")
    return Outcome(status, duration_ms, started_at, code, reason, output, names)
