"""The merge's memory probe: the process's peak resident set, read from ``/proc`` (None where there is none)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path


def _status_bytes(field: str) -> int | None:
    """A ``kB`` figure of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in bytes; None where there is none."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    return None


@contextlib.contextmanager
def peak_rss() -> Iterator[dict[str, int | None]]:
    """Measure this process's resident memory over the block: ``rss_before_bytes`` and ``peak_rss_bytes``.

    The peak is the block's own: the kernel's high-water mark is first reset to the current RSS (Linux,
    ``/proc/self/clear_refs``), so what the task's start-up took does not hide it. Both are None where that
    is not possible (another OS, a kernel that refuses).
    """
    figures: dict[str, int | None] = {"rss_before_bytes": None, "peak_rss_bytes": None}
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # 5: reset the peak RSS to the current RSS
        figures["rss_before_bytes"] = _status_bytes("VmRSS")
    yield figures
    if figures["rss_before_bytes"] is not None:
        figures["peak_rss_bytes"] = _status_bytes("VmHWM")
