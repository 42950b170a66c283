"""Process helpers shared by every part of Courier that starts child processes.

The ``courier up`` supervisor (:mod:`courier.runtime.processes`) and the spec runner
(:mod:`courier.specs.runner`) both start children that must not outlive their parent; the helper lives
here, below both, so neither depends on the other.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal

PR_SET_PDEATHSIG = 1

try:  # resolved here, not in the forked child: a dlopen there can deadlock when the parent has threads
    _LIBC: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:
    _LIBC = None


def die_with_parent() -> None:
    """``preexec_fn``: have the kernel SIGKILL this child when the process (thread) that started it dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
