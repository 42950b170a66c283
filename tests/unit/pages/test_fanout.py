"""The fan-out without I/O (``pages/fanout/``): its request from params, the manifest and its failure budget."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from courier.pages.batching import (
    FetchSettings,
    PlanError,
)
from courier.pages.fanout import FanoutRequest, build_manifest


def test_fanout_request_from_params() -> None:
    request = FanoutRequest.from_params(
        {"query": {"pages": 5}, "batch_size": None, "concurrency": 4, "records_key": "items", "page_attempts": 2}
    )
    assert request.batch_size is None and request.max_batches == 64 and request.max_failed_pages == 0
    assert request.fetch == FetchSettings(records_key="items", concurrency=4, attempts=2)
    assert dict(request.query) == {"pages": 5}
    with pytest.raises(PlanError):
        FanoutRequest.from_params({"concurrency": 0})


# ------------------------------------------------------------------ manifest

PLAN = {
    "dag_id": "paginated_fanout",
    "run_id": "r1",
    "listing_url": "http://h/pages",
    "links": 6,
    "duplicate_links": 0,
    "batch_size": 3,
    "batches": [{"batch_path": "b0", "out_path": "p0"}, {"batch_path": "b1", "out_path": "p1"}],
    "started_at": "2026-01-01T00:00:00+00:00",
    "list_seconds": 0.1,
    "plan_seconds": 0.2,
}


def _result(index: int, failed: list[int], columns: list[str], start: str, end: str) -> dict[str, object]:
    return {
        "index": index,
        "label": f"batch {index + 1}/2",
        "part": f"p{index}",
        "pages": 3,
        "pages_ok": 3 - len(failed),
        "rows": 10 * (3 - len(failed)),
        "columns": columns,
        "failed_pages": [{"page": p, "url": f"http://h/p/{p}", "error": "HTTP 500"} for p in failed],
        "statuses": {"200": 3 - len(failed), "500": 5 * len(failed)},
        "started_at": start,
        "finished_at": end,
        "seconds": 2.0 + index,
        "slowest_page_seconds": 1.0,
    }


NOW = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)


def test_manifest_within_the_failure_budget() -> None:
    results = [
        _result(0, [], ["id", "a"], "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:03+00:00"),
        _result(1, [4], ["id", "b", "a"], "2026-01-01T00:00:02+00:00", "2026-01-01T00:00:05+00:00"),
    ]
    manifest = build_manifest(
        PLAN, results, [], max_failed_pages=1, report="r.csv", merged_rows=50, merge_seconds=0.5, now=NOW
    )
    assert manifest["status"] == "success" and manifest["reason"] is None
    assert (manifest["pages"], manifest["pages_ok"], manifest["rows"]) == (6, 5, 50)
    assert manifest["columns"] == ["id", "a", "b"]
    assert [f["page"] for f in manifest["failed_pages"]] == [4]
    assert manifest["statuses"] == {"200": 5, "500": 5}
    assert manifest["timings"]["fetch_wall_seconds"] == 4.0
    assert manifest["timings"]["total_seconds"] == 10.0
    assert manifest["timings"]["batch_seconds"] == {"min": 2.0, "median": 2.5, "max": 3.0}


def test_manifest_fails_over_budget_and_names_pages_and_missing_batches() -> None:
    results = [_result(0, [2, 0], ["id"], "2026-01-01T00:00:01+00:00", "2026-01-01T00:00:03+00:00")]
    manifest = build_manifest(
        PLAN, results, [1], max_failed_pages=1, report=None, merged_rows=None, merge_seconds=0.0, now=NOW
    )
    assert manifest["status"] == "failed"
    assert "[1] left no result" in manifest["reason"] and "2 page(s) failed" in manifest["reason"]
    assert [f["page"] for f in manifest["failed_pages"]] == [0, 2]
    assert manifest["missing_batches"] == [1]
    assert manifest["rows"] == 10
