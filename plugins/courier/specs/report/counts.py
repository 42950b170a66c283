"""A run's counts and state, what every report format shows: cells by final status, timings, ``RUN_STATES``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def counts(cells: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return the run's counts: cells by final status (open cells count as ``not_run``) and timings."""
    result: dict[str, Any] = {"cells": len(cells), "passed": 0, "failed": 0, "flaky": 0, "skipped": 0, "not_run": 0}
    for cell in cells:
        key = cell["status"] if cell["status"] in ("passed", "failed", "flaky", "skipped") else "not_run"
        result[key] += 1
    result["timed_out"] = sum(1 for c in cells if c["status"] == "failed" and c["timed_out"])
    result["retried"] = sum(1 for c in cells if len([a for a in c["attempts"] if a["status"] != "lost"]) > 1)
    starts = [a["started_at"] for c in cells for a in c["attempts"]]
    ends = [a["finished_at"] for c in cells for a in c["attempts"]]
    result["makespan_s"] = round((max(ends) - min(starts)).total_seconds(), 3) if starts else 0.0
    result["cell_seconds"] = round(sum(a["duration_ms"] for c in cells for a in c["attempts"]) / 1000, 3)
    result["state"] = run_state(result)
    result["ok"] = result["state"] in ("passed", "passed_with_skips")
    return result


RUN_STATES = {
    "passed": "every cell passed (flaky ones on a retry)",
    "passed_with_skips": "no cell failed, but some were skipped (exit 77): they tested nothing",
    "nothing_tested": "no cell passed: every cell was skipped, or there were none — not a success",
    "failed": "a cell failed after its retries, or did not run",
}
"""A run's state, what it means; only ``passed`` and ``passed_with_skips`` are successes."""


def run_state(total: dict[str, Any]) -> str:
    """The state of a run with these counts (see :data:`RUN_STATES`)."""
    if total["failed"] or total["not_run"]:
        return "failed"
    if total["passed"] + total["flaky"] == 0:
        return "nothing_tested"
    return "passed_with_skips" if total["skipped"] else "passed"


def cell_name(cell: dict[str, Any]) -> str:
    return f"{cell['spec_id']} [{cell['browser']}/{cell['viewport']}]"


def failed_tries(cell: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in cell["attempts"] if a["status"] in ("failed", "timed_out")]
