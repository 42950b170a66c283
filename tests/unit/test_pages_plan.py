"""Pages logic with no I/O: batch planning, link resolution, column union, cells, manifest, snapshot keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from courier.pages.batching import (
    DEFAULT_BATCH_SIZE,
    MAX_MAP_LENGTH,
    BatchSpec,
    FetchSettings,
    PageRef,
    PlanError,
    RunLayout,
    plan_batches,
    resolve_links,
    result_url,
)
from courier.pages.fanout import FanoutRequest, build_manifest
from courier.pages.records import RecordsError, cell, columns_of, records_at, union_columns
from courier.pages.snapshot import SnapshotRequest, snapshot_interval, snapshot_key

# ------------------------------------------------------------------ batch planning


def _check_cover(batches: list[range], total: int) -> None:
    """Every link in exactly one batch, in order, contiguous; sizes differ by at most one."""
    assert [i for b in batches for i in b] == list(range(total))
    sizes = [len(b) for b in batches]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    ("total", "expected_batches", "largest"),
    [(1, 1, 1), (999, 8, 125), (1000, 8, 125), (1025, 9, 114), (5000, 40, 125)],
)
def test_default_plan(total: int, expected_batches: int, largest: int) -> None:
    batches = plan_batches(total)
    _check_cover(batches, total)
    assert len(batches) == expected_batches
    assert max(len(b) for b in batches) == largest <= DEFAULT_BATCH_SIZE


@pytest.mark.parametrize("total", [1, 999, 1000, 1025, 5000, 100_000, 1_000_000])
def test_default_plan_never_maps_more_than_64_tasks(total: int) -> None:
    batches = plan_batches(total)
    _check_cover(batches, total)
    assert len(batches) <= 64


def test_explicit_batch_size_and_cap() -> None:
    assert [len(b) for b in plan_batches(1000, batch_size=100)] == [100] * 10
    assert len(plan_batches(1025, batch_size=1, max_batches=MAX_MAP_LENGTH)) == MAX_MAP_LENGTH  # not 1025
    grown = plan_batches(5000, batch_size=10, max_batches=64)  # 500 batches asked, 64 allowed: batches grow
    _check_cover(grown, 5000)
    assert len(grown) == 64 and max(len(b) for b in grown) == 79


def test_no_links_no_batches() -> None:
    assert plan_batches(0) == []


@pytest.mark.parametrize(("kwargs"), [{"batch_size": 0}, {"max_batches": 0}, {"max_batches": MAX_MAP_LENGTH + 1}])
def test_bad_plan_arguments_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(PlanError):
        plan_batches(10, **kwargs)


# ------------------------------------------------------------------ link resolution

LISTING = "https://api.example.com/v1/pages?token=abc"


def test_links_resolve_against_the_listing_url() -> None:
    links = ["/v1/pages/1", "pages/2?x=1", "https://api.example.com/v1/pages/3", "../other/4", "  /v1/pages/5  "]
    resolved = resolve_links(LISTING, links)
    assert resolved.urls == [
        "https://api.example.com/v1/pages/1",
        "https://api.example.com/v1/pages/2?x=1",
        "https://api.example.com/v1/pages/3",
        "https://api.example.com/other/4",
        "https://api.example.com/v1/pages/5",
    ]
    assert resolved.duplicates == 0


def test_explicit_default_port_is_the_same_origin() -> None:
    assert resolve_links(LISTING, ["https://API.example.com:443/v1/p"]).urls == ["https://API.example.com:443/v1/p"]


def test_duplicate_links_are_fetched_once() -> None:
    resolved = resolve_links(LISTING, ["/a", "https://api.example.com/a", "/b", "/a"])
    assert resolved.urls == ["https://api.example.com/a", "https://api.example.com/b"]
    assert resolved.duplicates == 2


@pytest.mark.parametrize("link", ["https://evil.example.net/p/1", "http://api.example.com/p/1", "//cdn.example.org/x"])
def test_links_to_another_origin_are_refused_unless_allowed(link: str) -> None:
    with pytest.raises(PlanError, match="outside"):
        resolve_links(LISTING, ["/ok", link])
    assert len(resolve_links(LISTING, ["/ok", link], allow_other_hosts=True).urls) == 2


@pytest.mark.parametrize(
    ("links", "message"),
    [(["ftp://api.example.com/x"], "http"), ([None], "not a URL"), ([""], "not a URL"), ({"a": 1}, "not a list")],
)
def test_bad_links_are_refused(links: object, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        resolve_links(LISTING, links)


# ------------------------------------------------------------------ records and columns


def test_union_of_columns_in_first_seen_order() -> None:
    assert union_columns([["id", "b"], ["id", "c", "a"], [], ["a", "d", "b"]]) == ["id", "b", "c", "a", "d"]
    assert columns_of([{"x": 1, "y": 2}, {"z": 3, "x": 4}]) == ["x", "y", "z"]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (2.5, "2.5"),
        ("a,b", "a,b"),
        ({"k": [1, "é"]}, '{"k":[1,"é"]}'),
    ],
)
def test_cells(value: object, text: str) -> None:
    assert cell(value) == text


def test_records_at_dotted_key_or_body() -> None:
    assert records_at({"result": {"items": [{"a": 1}]}}, "result.items") == [{"a": 1}]
    assert records_at([{"a": 1}], "") == [{"a": 1}]
    with pytest.raises(RecordsError, match="missing"):
        records_at({"data": []}, "items")
    with pytest.raises(RecordsError, match="not a list"):
        records_at({"data": {"a": 1}}, "data")
    with pytest.raises(RecordsError, match="not an object"):
        records_at({"data": [1, 2]}, "data")


# ------------------------------------------------------------------ batch file, layout, params


def test_batch_file_round_trip_and_label() -> None:
    spec = BatchSpec(
        2, 8, [PageRef(250, "http://h/p/250"), PageRef(251, "http://h/p/251")], FetchSettings(concurrency=8)
    )
    assert BatchSpec.from_json(spec.to_json()) == spec
    assert spec.label == "batch 3/8 · pages 250-251"
    with pytest.raises(PlanError, match="version"):
        BatchSpec.from_json({**spec.to_json(), "version": 99})


def test_run_layout() -> None:
    layout = RunLayout.for_run("s3://bucket/prefix/", "paginated_fanout", "manual__2026-01-01T00:00:00+00:00")
    assert layout.base == "s3://bucket/prefix/pages/paginated_fanout/manual__2026-01-01T00:00:00+00:00"
    assert layout.batch(3).endswith("/batches/batch-0003.json")
    assert result_url(layout.part(3)) == layout.base + "/parts/part-0003.json"
    assert RunLayout.for_run("file:///d", "x", "a/b c").base == "file:///d/pages/x/a_b_c"


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


# ------------------------------------------------------------------ snapshot keys


def test_snapshot_key_comes_from_the_data_interval() -> None:
    start = datetime(2026, 3, 1, 9, 45, tzinfo=UTC)
    end = start + timedelta(minutes=15)
    assert snapshot_interval(start, end, datetime(2026, 3, 1, 11, 0, tzinfo=UTC), timedelta(minutes=15)) == (start, end)
    assert snapshot_key(start, end) == "20260301T094500Z-20260301T100000Z.csv"


def test_a_run_without_interval_takes_the_last_complete_one() -> None:
    every = timedelta(minutes=15)
    first = snapshot_interval(None, None, datetime(2026, 3, 1, 10, 7, 12, tzinfo=UTC), every)
    again = snapshot_interval(None, None, datetime(2026, 3, 1, 10, 14, 59, tzinfo=UTC), every)
    assert first == again == (datetime(2026, 3, 1, 9, 45, tzinfo=UTC), datetime(2026, 3, 1, 10, 0, tzinfo=UTC))


def test_snapshot_request_from_params() -> None:
    request = SnapshotRequest.from_params({"endpoint": "/x", "records_key": "", "format": "csv"})
    assert (request.endpoint, request.records_key, request.format) == ("/x", "", "csv")
    assert SnapshotRequest.from_params({}).endpoint == "/data"
    with pytest.raises(ValueError, match="format"):
        SnapshotRequest.from_params({"format": "xml"})
