"""What the benchmarks share: one JSON object on stdout, and a stack on a temporary DAG folder."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import IO

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
