"""The run's manifest: what was listed, fetched, failed and merged, with timings."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from courier.pages.records import union_columns


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
