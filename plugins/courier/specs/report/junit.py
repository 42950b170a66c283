"""``junit.xml``: one ``testsuite`` per spec, one ``testcase`` per cell named ``spec [browser/viewport]`` (CI systems
drop duplicate names); a flaky cell is a passed testcase carrying Surefire's ``<flakyFailure>`` per failed try."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from courier.specs.report.counts import cell_name, counts, failed_tries
from courier.specs.report.layout import DAG_ID


def junit_xml(run_id: str, cells: Sequence[dict[str, Any]]) -> bytes:
    """Return the JUnit XML of the run: one ``testsuite`` per spec, one ``testcase`` per cell."""
    total = counts(cells)
    root = ET.Element(
        "testsuites",
        name=f"{DAG_ID} {run_id}",
        tests=str(len(cells)),
        failures=str(total["failed"]),
        errors=str(total["not_run"]),
        skipped=str(total["skipped"]),
        time=f"{total['cell_seconds']:.3f}",
    )
    by_spec: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        by_spec.setdefault(cell["spec_id"], []).append(cell)
    for spec_id, spec_cells in by_spec.items():
        started = [c["started_at"] for c in spec_cells if c["started_at"] is not None]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=spec_id,
            tests=str(len(spec_cells)),
            failures=str(sum(c["status"] == "failed" for c in spec_cells)),
            errors=str(sum(c["status"] in ("queued", "running") for c in spec_cells)),
            skipped=str(sum(c["status"] == "skipped" for c in spec_cells)),
            time=f"{sum((c['duration_ms'] or 0) for c in spec_cells) / 1000:.3f}",
            timestamp=(min(started) if started else datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
        )
        for cell in spec_cells:
            case = ET.SubElement(
                suite,
                "testcase",
                name=cell_name(cell),
                classname=f"{DAG_ID}.{spec_id}",
                time=f"{(cell['duration_ms'] or 0) / 1000:.3f}",
            )
            reason = cell["reason"] or ""
            if cell["status"] == "failed":
                kind = "timeout" if cell["timed_out"] else "failure"
                ET.SubElement(case, "failure", message=reason, type=kind).text = cell["output_tail"] or reason
            elif cell["status"] in ("queued", "running"):
                ET.SubElement(case, "error", message="not run: no worker finished this cell", type="not_run")
            elif cell["status"] == "skipped":
                ET.SubElement(case, "skipped", message=reason)
            elif cell["status"] == "flaky":
                for attempt in failed_tries(cell):
                    ET.SubElement(
                        case, "flakyFailure", message=attempt["reason"] or "", type=attempt["status"]
                    ).text = f"attempt {attempt['attempt']} on {attempt['worker']}"
            if cell["output_tail"]:
                ET.SubElement(case, "system-out").text = cell["output_tail"]
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8"))
