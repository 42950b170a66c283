"""The reports of a spec run: ``junit.xml``, ``ctrf.json`` and a self-contained ``report.html`` (the matrix).

Everything goes to ``{storage_base}/specs/spec_matrix/<run id>/`` beside the ``artifacts/`` each cell's
worker uploaded (``artifacts/<spec>/<browser>-<viewport>/``), so the page's relative links work wherever the
folder is opened. JUnit: one ``testcase`` per cell named ``spec [browser/viewport]`` (CI systems drop
duplicate names); a flaky cell is a passed testcase carrying Surefire's ``<flakyFailure>`` per failed try.
CTRF: ``reportFormat``/``specVersion``/``results.tool/summary/tests``; Courier's own fields under ``extra``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from courier.specs.report.counts import counts
from courier.specs.report.ctrf_json import ctrf
from courier.specs.report.html_page import report_html
from courier.specs.report.junit import junit_xml
from courier.specs.report.layout import DAG_ID, artifact_prefix, run_folder
from courier.specs.report.upload import upload_artifacts

if TYPE_CHECKING:
    from courier.specs.store import SpecQueue

__all__ = [
    "DAG_ID",
    "artifact_prefix",
    "counts",
    "ctrf",
    "junit_xml",
    "report_html",
    "run_folder",
    "upload_artifacts",
    "write_report",
]


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
