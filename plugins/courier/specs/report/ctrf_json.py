"""``ctrf.json``: ``reportFormat``/``specVersion``/``results.tool/summary/tests``; Courier's own fields under
``extra``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from courier import __version__
from courier.specs.report.counts import cell_name, counts
from courier.specs.report.layout import DAG_ID, artifact_prefix

CTRF_SPEC_VERSION = "0.0.0"
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
    ".html": "text/html",
    ".zip": "application/zip",
}


def _ms(value: datetime | None) -> int:
    return int(value.timestamp() * 1000) if value else 0


def ctrf(run_id: str, cells: Sequence[dict[str, Any]], filtered: dict[str, int] | None = None) -> dict[str, Any]:
    """Return the Common Test Report Format document of the run."""
    total = counts(cells)
    tests = []
    for cell in cells:
        status = {"passed": "passed", "flaky": "passed", "failed": "failed", "skipped": "skipped"}.get(
            cell["status"], "other"
        )
        prefix = artifact_prefix(cell["spec_id"], cell["browser"], cell["viewport"])
        test: dict[str, Any] = {
            "name": cell_name(cell),
            "status": status,
            "duration": round(cell["duration_ms"] or 0),
            "start": _ms(cell["started_at"]),
            "stop": _ms(cell["finished_at"]),
            "suite": cell["spec_id"],
            "browser": f"{cell['browser']} {cell['width']}x{cell['height']}",
            "device": cell["viewport"],
            "retries": max(0, len([a for a in cell["attempts"] if a["status"] != "lost"]) - 1),
            "flaky": cell["status"] == "flaky",
            "rawStatus": cell["status"],
            "attachments": [
                {
                    "name": name,
                    "contentType": CONTENT_TYPES.get(Path(name).suffix, "application/octet-stream"),
                    "path": f"{prefix}/{name}",
                }
                for name in cell["artifacts"]
            ],
            "extra": {
                "viewport": cell["viewport"],
                "viewportSize": f"{cell['width']}x{cell['height']}",
                "exitCode": cell["exit_code"],
                "timedOut": cell["timed_out"],
                "attempts": [
                    {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in a.items()}
                    for a in cell["attempts"]
                ],
            },
        }
        if cell["reason"]:
            test["message"] = cell["reason"]
        if cell["output_tail"] and cell["status"] == "failed":
            test["trace"] = cell["output_tail"]
        tests.append(test)
    starts = [t["start"] for t in tests if t["start"]]
    stops = [t["stop"] for t in tests if t["stop"]]
    return {
        "reportFormat": "CTRF",
        "specVersion": CTRF_SPEC_VERSION,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "generatedBy": f"courier {__version__}",
        "results": {
            "tool": {"name": "courier", "version": __version__, "extra": {"dag_id": DAG_ID}},
            "summary": {
                "tests": len(tests),
                "passed": sum(t["status"] == "passed" for t in tests),
                "failed": sum(t["status"] == "failed" for t in tests),
                "pending": 0,
                "skipped": sum(t["status"] == "skipped" for t in tests),
                "other": sum(t["status"] == "other" for t in tests),
                "flaky": total["flaky"],
                "start": min(starts) if starts else 0,
                "stop": max(stops) if stops else 0,
            },
            "tests": tests,
            "extra": {"runId": run_id, "filtered": filtered or {}, "makespanSeconds": total["makespan_s"]},
        },
    }
