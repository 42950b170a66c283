"""The reports of a spec run: ``junit.xml``, ``ctrf.json`` and a self-contained ``report.html`` (the matrix).

Everything goes to ``{storage_base}/specs/spec_matrix/<run id>/`` beside the ``artifacts/`` each cell's
worker uploaded (``artifacts/<spec>/<browser>-<viewport>/``), so the page's relative links work wherever the
folder is opened. JUnit: one ``testcase`` per cell named ``spec [browser/viewport]`` (CI systems drop
duplicate names); a flaky cell is a passed testcase carrying Surefire's ``<flakyFailure>`` per failed try.
CTRF: ``reportFormat``/``specVersion``/``results.tool/summary/tests``; Courier's own fields under ``extra``.
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from courier import __version__
from courier.domains import SPEC_MATRIX

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from courier.specs.models import Claim
    from courier.specs.store import SpecQueue

DAG_ID = SPEC_MATRIX
CTRF_SPEC_VERSION = "0.0.0"
STATUS_COLOURS = {
    "passed": "#1a7f37",
    "flaky": "#bf8700",
    "failed": "#cf222e",
    "skipped": "#6e7781",
    "queued": "#8250df",
    "running": "#8250df",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".log": "text/plain",
    ".txt": "text/plain",
    ".json": "application/json",
    ".html": "text/html",
    ".zip": "application/zip",
}


def run_folder(run_id: str, storage_base: str | None = None) -> ObjectStoragePath:
    """Return ``{storage_base}/specs/spec_matrix/<run id>`` (:class:`~courier.params.ParamError` for the run
    ids ``.`` and ``..``, which would name a folder above the run's)."""
    from courier.params import run_folder_name
    from courier.storage import storage_base as base

    return base(storage_base) / "specs" / DAG_ID / run_folder_name(run_id)


def artifact_prefix(spec_id: str, browser: str, viewport: str) -> str:
    """Return the artifacts folder of a cell, relative to the run folder."""
    return f"artifacts/{_UNSAFE.sub('_', spec_id)}/{_UNSAFE.sub('_', browser)}-{_UNSAFE.sub('_', viewport)}"


def upload_artifacts(run_id: str, claim: Claim, folder: Path, storage_base: str | None = None) -> int:
    """Copy every file under ``folder`` to the cell's artifacts folder (replacing an earlier attempt's)."""
    from courier.storage import is_local

    target = run_folder(run_id, storage_base) / artifact_prefix(claim.spec_id, claim.browser, claim.viewport)
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        dest = target / path.relative_to(folder).as_posix()
        if is_local(dest):
            dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(path.read_bytes())
        count += 1
    return count


# ---------------------------------------------------------------------- counts
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


def _name(cell: dict[str, Any]) -> str:
    return f"{cell['spec_id']} [{cell['browser']}/{cell['viewport']}]"


def _failed_tries(cell: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in cell["attempts"] if a["status"] in ("failed", "timed_out")]


# ---------------------------------------------------------------------- JUnit
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
                name=_name(cell),
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
                for attempt in _failed_tries(cell):
                    ET.SubElement(
                        case, "flakyFailure", message=attempt["reason"] or "", type=attempt["status"]
                    ).text = f"attempt {attempt['attempt']} on {attempt['worker']}"
            if cell["output_tail"]:
                ET.SubElement(case, "system-out").text = cell["output_tail"]
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(ET.tostring(root, encoding="utf-8"))


# ---------------------------------------------------------------------- CTRF
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
            "name": _name(cell),
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


# ---------------------------------------------------------------------- HTML
_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px;margin:0 0 4px}.sub{color:#656d76;margin:0 0 16px}
.counts span{display:inline-block;margin:0 8px 8px 0;padding:4px 10px;border-radius:12px;color:#fff;font-weight:600}
table.matrix{border-collapse:collapse;margin:16px 0}
.matrix th,.matrix td{border:1px solid #d0d7de;padding:6px 8px;text-align:center;font-size:13px}
.matrix th.spec{text-align:left}.matrix td.cell{color:#fff;min-width:84px}
.matrix td.cell a{color:#fff}.matrix td.none{background:#f6f8fa;color:#8c959f}
details{margin:6px 0}pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:320px}
"""


def report_html(
    run_id: str, cells: Sequence[dict[str, Any]], filtered: dict[str, int] | None = None, base_url: str = ""
) -> str:
    """Return the self-contained page: counts, the spec x browser/viewport matrix, flaky and failed cells."""
    total = counts(cells)
    esc = html.escape
    widths: dict[tuple[str, str], int] = {}
    for cell in cells:
        widths[(cell["browser"], cell["viewport"])] = cell["width"]
    columns = sorted(widths, key=lambda col: (col[0], -widths[col], col[1]))  # per browser: widest first
    specs: list[str] = []
    for cell in cells:
        if cell["spec_id"] not in specs:
            specs.append(cell["spec_id"])
    specs.sort()
    grid = {(c["spec_id"], c["browser"], c["viewport"]): c for c in cells}
    head = "".join(f"<th>{esc(b)}<br><small>{esc(v)}</small></th>" for b, v in columns)
    rows = []
    for spec_id in specs:
        tds = []
        for browser, viewport in columns:
            found = grid.get((spec_id, browser, viewport))
            if found is None:
                tds.append('<td class="none" title="not in the matrix (filtered)">—</td>')
                continue
            status = found["status"]
            seconds = (found["duration_ms"] or 0) / 1000
            prefix = artifact_prefix(spec_id, browser, viewport)
            shots = [a for a in found["artifacts"] if a.endswith(".png")]
            link = f'<br><a href="{esc(prefix)}/{esc(shots[0])}">screenshot</a>' if shots else ""
            title = esc(found["reason"] or status)
            tds.append(
                f'<td class="cell {esc(status)}" data-status="{esc(status)}" style="background:'
                f'{STATUS_COLOURS.get(status, "#57606a")}" title="{title}">{esc(status)}<br>'
                f"<small>{seconds:.1f}s</small>{link}</td>"
            )
        rows.append(f'<tr><th class="spec">{esc(spec_id)}</th>{"".join(tds)}</tr>')
    badges = "".join(
        f'<span style="background:{STATUS_COLOURS.get(k, "#57606a")}">{k} {total[k]}</span>'
        for k in ("passed", "flaky", "failed", "skipped", "not_run")
        if total[k] or k in ("passed", "failed")
    )
    details = []
    for cell in cells:
        if cell["status"] in ("failed", "flaky", "skipped", "queued", "running"):
            prefix = artifact_prefix(cell["spec_id"], cell["browser"], cell["viewport"])
            links = " ".join(f'<a href="{esc(prefix)}/{esc(a)}">{esc(a)}</a>' for a in cell["artifacts"])
            tries = "".join(
                f"<li>attempt {a['attempt']}: {esc(a['status'])} in {a['duration_ms'] / 1000:.1f}s"
                f"{' — ' + esc(a['reason']) if a['reason'] else ''}</li>"
                for a in cell["attempts"]
            )
            details.append(
                f"<details><summary><b>{esc(_name(cell))}</b>: {esc(cell['status'])}"
                f"{' — ' + esc(cell['reason']) if cell['reason'] else ''}</summary><ul>{tries}</ul>"
                f"<p>{links}</p><pre>{esc(cell['output_tail'] or '')}</pre></details>"
            )
    filtered_items = "".join(f"<li>{esc(reason)}: {n}</li>" for reason, n in sorted((filtered or {}).items()))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>spec_matrix {esc(run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>spec_matrix — {esc(run_id)}</h1>"
        f'<p class="state" data-state="{esc(total["state"])}"><b>{esc(total["state"].replace("_", " "))}</b>: '
        f"{esc(RUN_STATES[total['state']])}</p>"
        f'<p class="sub">{total["cells"]} cells · makespan {total["makespan_s"]:.1f}s · '
        f"{total['cell_seconds']:.1f}s of cell time · base URL {esc(base_url or '—')} · "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC</p>"
        f'<div class="counts">{badges}</div>'
        f'<table class="matrix" id="matrix"><thead><tr><th class="spec">spec</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f"<h2>Flaky, failed and skipped cells</h2>{''.join(details)}" if details else "")
        + (f"<h2>Filtered cells</h2><ul>{filtered_items}</ul>" if filtered_items else "")
        + '<p class="sub">Also: <a href="junit.xml">junit.xml</a> · <a href="ctrf.json">ctrf.json</a></p>'
        "</body></html>\n"
    )


def write_report(run_id: str, storage_base: str | None = None, queue: SpecQueue | None = None) -> dict[str, Any]:
    """Write junit.xml, ctrf.json and report.html for ``run_id``; record and return the counts."""
    from courier.specs.store import SpecQueue
    from courier.storage import is_local

    queue = queue or SpecQueue()
    run = queue.get_run(run_id)
    if run is None:
        raise LookupError(f"spec run {run_id!r} was not planned")
    cells = queue.cells(run_id)
    folder = run_folder(run_id, storage_base)
    if is_local(folder):
        folder.mkdir(parents=True, exist_ok=True)
    (folder / "junit.xml").write_bytes(junit_xml(run_id, cells))
    (folder / "ctrf.json").write_text(json.dumps(ctrf(run_id, cells, run["filtered"]), indent=2))
    (folder / "report.html").write_text(report_html(run_id, cells, run["filtered"], run["base_url"]))
    total = counts(cells)
    total["filtered"] = sum(run["filtered"].values())
    report_url = str(folder / "report.html")
    queue.set_report(run_id, total, report_url)
    return {**total, "report": report_url, "folder": str(folder)}
