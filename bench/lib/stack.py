"""What the benchmarks share: one JSON object on stdout, a stack on a temporary DAG folder, a DAG run timed."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from courier.runtime.airflow_api import AirflowApi
from courier.runtime.postgres import free_port
from courier.runtime.stack import Stack


def json_stdout() -> IO[str]:
    """Return a stream on the real stdout, and send everything else printed (stack, libraries) to stderr."""
    report = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    return report


def bench_stack(name: str, dag_files: list[Path]) -> tuple[Stack, Path]:
    """Return an unstarted stack whose DAG folder holds only ``dag_files``, and its temporary home.

    SIGTERM becomes KeyboardInterrupt, so a stopped benchmark still runs its ``finally: stack.stop()``.
    """
    signal.signal(signal.SIGTERM, _interrupt)
    # benchmarks create timers far faster than a user may (a million in minutes): no per-user rate limit here
    os.environ.setdefault("AIRFLOW__COURIER__TIMER_CREATE_RATE", "0")
    home = Path(tempfile.mkdtemp(prefix=f"courier-bench-{name}-"))
    dags = home / "dags"
    dags.mkdir()
    for source in dag_files:
        shutil.copy(source, dags / source.name)
    stack = Stack(
        home=home / "stack",
        port=free_port(),
        dags_folder=dags,
        progress=lambda line: print(line, file=sys.stderr, flush=True),
    )
    return stack, home


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def run_dag(api: AirflowApi, dag_id: str, conf: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Trigger ``dag_id`` and wait for it; return its timings (wall from the trigger call, and the run's own)."""
    began = time.monotonic()
    run_id = api.trigger(dag_id, conf)
    deadline = began + timeout
    while True:
        run = api.dag_run(dag_id, run_id)
        if run["state"] in ("success", "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    wall = time.monotonic() - began
    if run["state"] != "success":
        raise RuntimeError(f"{dag_id} run {run_id} ended {run['state']} after {wall:.0f}s")
    start, end = (datetime.fromisoformat(run[k]) for k in ("start_date", "end_date"))
    return {"run_id": run_id, "wall_seconds": round(wall, 2), "run_seconds": round((end - start).total_seconds(), 2)}
