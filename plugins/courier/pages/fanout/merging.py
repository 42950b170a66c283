"""The step after the batches: stream the parts into one CSV (:func:`merge_parts`), write the manifest, record the
figures (:func:`merge`)."""

from __future__ import annotations

import csv
import logging
import time
from datetime import UTC, datetime
from typing import Any

from courier.pages.batching import (
    result_url,
)
from courier.pages.fanout.manifest import build_manifest
from courier.pages.fanout.memory import peak_rss
from courier.pages.fanout.record import record_fanout
from courier.pages.fanout.request import FanoutFailed, FanoutRequest
from courier.pages.records import text_cell, union_columns
from courier.pages.storing import open_read, path_of, read_json, write_json
from courier.storage import open_write

log = logging.getLogger(__name__)


def merge_parts(parts: list[tuple[str, list[str]]], report_url: str) -> tuple[int, list[str]]:
    """Stream the part CSVs, in order, into one CSV whose columns are their union; return (rows, columns)."""
    columns = union_columns(cols for _, cols in parts)
    rows = 0
    with open_write(path_of(report_url)) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([text_cell(column) for column in columns])
        for url, expected in parts:
            with open_read(path_of(url)) as stream:
                reader = csv.reader(stream)
                header = next(reader, [])
                if header != [text_cell(column) for column in expected]:  # parts are written guarded
                    raise FanoutFailed(f"{url} has columns {header}, its result says {expected}")
                where = {name: position for position, name in enumerate(expected)}
                picks = [where.get(name) for name in columns]
                for row in reader:
                    writer.writerow(["" if i is None else row[i] for i in picks])
                    rows += 1
    return rows, columns


def merge(request: FanoutRequest, dag_id: str, run_id: str) -> dict[str, Any]:
    """Merge the run's parts into ``report.csv`` and write ``manifest.json``; raise :class:`FanoutFailed`
    (after writing the manifest) when a batch left no result or more than ``max_failed_pages`` pages failed.
    """
    began = time.monotonic()
    layout = request.layout(dag_id, run_id)
    plan = read_json(path_of(layout.plan))
    results: list[dict[str, Any]] = []
    missing: list[int] = []
    for index, batch in enumerate(plan["batches"]):
        result_path = path_of(result_url(batch["out_path"]))
        result = read_json(result_path) if result_path.exists() else None
        if result is not None and result.get("plan_id") == plan["plan_id"]:
            results.append(result)
        else:  # never ran, or what is there was written for an earlier plan of this run
            missing.append(index)
    verdict = build_manifest(
        plan,
        results,
        missing,
        max_failed_pages=request.max_failed_pages,
        report=None,
        merged_rows=None,
        merge_seconds=0.0,
        now=datetime.now(UTC),
    )
    report_path = path_of(layout.report)
    if verdict["status"] == "success":
        with peak_rss() as memory:
            rows, _ = merge_parts([(r["part"], list(r["columns"])) for r in results], layout.report)
        if rows != verdict["rows"]:
            raise FanoutFailed(f"merged {rows} rows but the batch results add up to {verdict['rows']}")
        manifest = build_manifest(
            plan,
            results,
            missing,
            max_failed_pages=request.max_failed_pages,
            report=layout.report,
            merged_rows=rows,
            merge_seconds=time.monotonic() - began,
            now=datetime.now(UTC),
        )
        manifest["merge_memory"] = memory  # the merge streams: its peak stays flat whatever the row count
    else:
        if report_path.exists():  # a report from an earlier try would contradict this manifest
            report_path.unlink()
        manifest = {**verdict, "timings": {**verdict["timings"], "merge_seconds": round(time.monotonic() - began, 3)}}
    write_json(path_of(layout.manifest), manifest)
    record_fanout(manifest)
    if manifest["status"] != "success":
        named = ", ".join(f"{f['page']} ({f['error']})" for f in manifest["failed_pages"][:20])
        raise FanoutFailed(f"{manifest['reason']}; failed pages: {named or 'none'}; see {layout.manifest}")
    log.info(
        "merged %d rows from %d pages (%d batches) into %s in %.2fs; %.1fs since listing",
        manifest["rows"],
        manifest["pages_ok"],
        manifest["batches"],
        layout.report,
        manifest["timings"]["merge_seconds"],
        manifest["timings"]["total_seconds"],
    )
    return {
        "report": layout.report,
        "manifest": layout.manifest,
        "pages": manifest["pages"],
        "rows": manifest["rows"],
        "failed_pages": len(manifest["failed_pages"]),
    }
