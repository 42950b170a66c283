"""Courier at 100x today's load (issue #20): timers, jobs, pages and stats, each at today's size and at 10-1000x
in one run, so every ratio is read on the same machine in the same state.

Each part lives in ``bench/scale/<part>.py`` and returns one JSON-able dict from ``measure()``: its figures,
the baseline size measured in the same run, the ratios, the targets and whether each is met. This script runs
the parts one after the other (each starts and stops what it needs) and prints **one JSON object**.

    uv run python -m bench.scale                 # every part, full size (about an hour on 2 cores)
    uv run python -m bench.scale timers jobs     # some parts
    COURIER_SCALE=small uv run python -m bench.scale   # tiny sizes: checks the machinery, not the targets
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from typing import Any

import psutil

from bench.lib.stack import json_stdout

PARTS = ("timers", "jobs", "pages", "stats")


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "scale": os.environ.get("COURIER_SCALE", "full"),
    }


def _all_met(part: dict[str, Any]) -> bool:
    """Whether every target of a part (its ``targets_met``: target -> bool) was met."""
    met = part["targets_met"]
    return bool(met) and all(bool(value) for value in met.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", help="parts to run (default: all)")
    parts = parser.parse_args().parts or list(PARTS)
    result: dict[str, Any] = {"benchmark": "scale", "machine": _machine(), "parts": {}}
    report = json_stdout()
    for name in parts:
        began = time.monotonic()
        figures = importlib.import_module(f"bench.scale.{name}").measure()
        figures["wall_s"] = round(time.monotonic() - began, 1)
        result["parts"][name] = figures
    result["targets_met"] = {name: _all_met(figures) for name, figures in result["parts"].items()}
    report.write(json.dumps(result, indent=2, default=str) + "\n")
    report.flush()


if __name__ == "__main__":
    main()
