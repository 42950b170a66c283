"""The steps of ``paginated_fanout`` around the batches: list + plan before them, merge + manifest after them.

Both exchange files through object storage (see :mod:`courier.pages.batching` for the layout); what they return
to XCom is paths, labels and counts.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from courier.http import HttpSettings
from courier.pages.batching import (
    DEFAULT_MAX_BATCHES,
    BatchSpec,
    FetchSettings,
    PageRef,
    PlanError,
    RunLayout,
    plan_batches,
    resolve_links,
    result_url,
)
from courier.pages.hook import DEFAULT_CONN_ID, PagedApiHook
from courier.pages.records import text_cell, union_columns
from courier.pages.storing import base_url, open_read, path_of, read_json, write_json
from courier.params import ParamError, storage_param
from courier.storage import open_write

log = logging.getLogger(__name__)


class FanoutFailed(RuntimeError):
    """Too many pages failed, or a batch left no result; the manifest says which."""


@dataclass(frozen=True)
class FanoutRequest:
    """What one run of ``paginated_fanout`` asks for (the DAG params, validated).

    :param links_endpoint: the listing endpoint, a path relative to the connection's base URL (absolute URLs
        only on hosts the connection's ``allowed_hosts`` extra lists).
    :param links_key: dotted key of the links list in the listing body.
    :param query: query parameters sent with the listing request.
    :param batch_size: most links per batch (None: the default, 125).
    :param max_batches: most batches (mapped tasks) whatever the link count; batches grow past it.
    :param max_failed_pages: pages allowed to fail (after their retries) before the run fails.
    :param storage_base: storage base for this run, under ``[courier] storage_base`` (None: that base).
    :param fetch: how batches fetch pages (connection, records key, concurrency, retries).
    """

    links_endpoint: str = "/pages"
    links_key: str = "links"
    query: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int | None = None
    max_batches: int = DEFAULT_MAX_BATCHES
    max_failed_pages: int = 0
    storage_base: str | None = None
    fetch: FetchSettings = field(default_factory=FetchSettings)

    @classmethod
    def from_params(cls, params: Mapping[str, Any], conn_id: str = DEFAULT_CONN_ID) -> FanoutRequest:
        """Build a request from DAG params (missing keys take the defaults). ``allow_other_hosts`` is refused:
        the connection's extra decides (:func:`allows_other_hosts`), a run may not widen where requests go."""
        defaults = cls()
        fetch_defaults = FetchSettings()
        if "allow_other_hosts" in params:
            raise ParamError(
                f"allow_other_hosts is not a run param: a run may not widen where requests go; set the "
                f"connection {conn_id}'s extra allow_other_hosts (true/false) instead"
            )

        def get(key: str, default: Any) -> Any:
            value = params.get(key)
            return default if value is None else value

        request = cls(
            links_endpoint=str(get("links_endpoint", defaults.links_endpoint)),
            links_key=str(get("links_key", defaults.links_key)),
            query=dict(get("query", {})),
            batch_size=None if params.get("batch_size") is None else int(params["batch_size"]),
            max_batches=int(get("max_batches", defaults.max_batches)),
            max_failed_pages=int(get("max_failed_pages", defaults.max_failed_pages)),
            storage_base=storage_param(params.get("storage_base")),
            fetch=FetchSettings(
                conn_id=conn_id,
                records_key=str(get("records_key", fetch_defaults.records_key)),
                concurrency=int(get("concurrency", fetch_defaults.concurrency)),
                attempts=int(get("page_attempts", fetch_defaults.attempts)),
            ),
        )
        if request.max_failed_pages < 0 or not 1 <= request.fetch.concurrency <= 1024 or request.fetch.attempts < 1:
            raise PlanError("max_failed_pages must be >= 0, concurrency in 1..1024 and page_attempts >= 1")
        return request

    def layout(self, dag_id: str, run_id: str) -> RunLayout:
        return RunLayout.for_run(base_url(self.storage_base), dag_id, run_id)


def allows_other_hosts(settings: HttpSettings) -> bool:
    """The connection's ``allow_other_hosts`` extra (a JSON boolean, or ``"true"``/``"false"``): whether page
    links may point to other origins than the listing's."""
    value = settings.extra.get("allow_other_hosts", False)
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise PlanError(
            f"the connection {settings.conn_id or settings.base_url}'s extra allow_other_hosts is {value!r}: "
            "give true or false"
        )
    return value


def list_and_plan(request: FanoutRequest, dag_id: str, run_id: str) -> list[dict[str, str]]:
    """List the page links, split them into batches and write one batch file each plus ``plan.json``.

    Return one ``{"batch_path", "out_path", "batch_label"}`` per batch: the kwargs of the mapped batch step.
    """
    from courier.config import load

    started_at = datetime.now(UTC)
    began = time.monotonic()
    layout = request.layout(dag_id, run_id)
    if load().execution_mode == "kubernetes" and layout.base.startswith("file://"):
        raise PlanError(
            f"execution_mode = kubernetes needs object storage the pods can reach (s3://...), not {layout.base}"
        )
    hook = PagedApiHook(request.fetch.conn_id, request.fetch.retry_policy())
    listing_url, links = hook.list_links(request.links_endpoint, request.links_key, request.query)
    resolved = resolve_links(
        listing_url, links, allow_other_hosts=allows_other_hosts(hook.settings), settings=hook.settings
    )
    listed = time.monotonic()
    ranges = plan_batches(len(resolved.urls), request.batch_size, request.max_batches)
    plan_id = uuid.uuid4().hex
    batches: list[dict[str, str]] = []
    for index, pages in enumerate(ranges):
        refs = [PageRef(p, resolved.urls[p]) for p in pages]
        spec = BatchSpec(index, len(ranges), refs, request.fetch, plan_id=plan_id)
        write_json(path_of(layout.batch(index)), spec.to_json())
        batches.append({"batch_path": layout.batch(index), "out_path": layout.part(index), "batch_label": spec.label})
    plan = {
        "plan_id": plan_id,
        "dag_id": dag_id,
        "run_id": run_id,
        "listing_url": listing_url,
        "links": len(resolved.urls),
        "duplicate_links": resolved.duplicates,
        "batch_size": max((len(r) for r in ranges), default=0),
        "fetch": {"concurrency": request.fetch.concurrency, "attempts": request.fetch.attempts},
        "batches": [{**b, "pages": len(r)} for b, r in zip(batches, ranges, strict=True)],
        "started_at": started_at.isoformat(),
        "list_seconds": round(listed - began, 3),
        "plan_seconds": round(time.monotonic() - listed, 3),
    }
    write_json(path_of(layout.plan), plan)
    log.info(
        "listed %d links (%d duplicates dropped) from %s; %d batch(es) of up to %d under %s",
        len(resolved.urls),
        resolved.duplicates,
        listing_url,
        len(batches),
        plan["batch_size"],
        layout.base,
    )
    return batches


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


def _seconds_between(first: str, last: str) -> float:
    return round((datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds(), 3)


def build_manifest(
    plan: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    missing_batches: list[int],
    *,
    max_failed_pages: int,
    report: str | None,
    merged_rows: int | None,
    merge_seconds: float,
    now: datetime,
) -> dict[str, Any]:
    """Summarise a run: pages, rows, failed pages, missing batches, HTTP statuses, timings, and its status."""
    failed = sorted((f for r in results for f in r["failed_pages"]), key=lambda f: int(f["page"]))
    allowed = max_failed_pages
    reasons = []
    if missing_batches:
        reasons.append(f"batch(es) {missing_batches} left no result")
    if len(failed) > allowed:
        reasons.append(f"{len(failed)} page(s) failed after retries, more than max_failed_pages={allowed}")
    statuses: Counter[str] = Counter()
    for result in results:
        statuses.update(result["statuses"])
    durations = [float(r["seconds"]) for r in results]
    timings: dict[str, Any] = {
        "list_seconds": plan["list_seconds"],
        "plan_seconds": plan["plan_seconds"],
        "fetch_wall_seconds": (
            _seconds_between(min(r["started_at"] for r in results), max(r["finished_at"] for r in results))
            if results
            else 0.0
        ),
        "batch_seconds": (
            {"min": min(durations), "median": statistics.median(durations), "max": max(durations)} if durations else {}
        ),
        "merge_seconds": round(merge_seconds, 3),
        "total_seconds": _seconds_between(plan["started_at"], now.isoformat()),
    }
    return {
        "status": "failed" if reasons else "success",
        "reason": "; ".join(reasons) or None,
        "dag_id": plan["dag_id"],
        "run_id": plan["run_id"],
        "listing_url": plan["listing_url"],
        "pages": plan["links"],
        "pages_ok": sum(int(r["pages_ok"]) for r in results),
        "rows": merged_rows if merged_rows is not None else sum(int(r["rows"]) for r in results),
        "columns": union_columns(r["columns"] for r in results),
        "batches": len(plan["batches"]),
        "batch_size": plan["batch_size"],
        "duplicate_links": plan["duplicate_links"],
        "max_failed_pages": allowed,
        "failed_pages": failed,
        "missing_batches": missing_batches,
        "statuses": dict(sorted(statuses.items())),
        "report": report,
        "timings": timings,
        "per_batch": [
            {k: r[k] for k in ("index", "label", "pages", "pages_ok", "rows", "seconds", "slowest_page_seconds")}
            for r in results
        ],
        "created_at": now.isoformat(),
    }


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
    _record_fanout(manifest)
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


def _record_fanout(manifest: Mapping[str, Any]) -> None:
    """The fan-out's pages fetched, pages/s, failed pages and duration as Courier stats (best effort: never
    fails the merge; one write per fan-out)."""
    from courier.stats import emit

    tags = {"dag_id": str(manifest["dag_id"]), "status": str(manifest["status"])}
    timings = manifest["timings"]
    fetch_seconds = float(timings["fetch_wall_seconds"])
    events = [
        emit.event("courier.pages.fetched", int(manifest["pages_ok"]), "counter", tags),
        emit.event("courier.pages.failed", len(manifest["failed_pages"]), "counter", tags),
        emit.event("courier.pages.fanout_seconds", float(timings["total_seconds"]), "timer", tags),
    ]
    if fetch_seconds > 0:
        events.append(emit.event("courier.pages.per_second", int(manifest["pages_ok"]) / fetch_seconds, "gauge", tags))
    emit.record(events)
