"""Pages planning without I/O (``pages/batching.py``): batch planning, link resolution, the batch file and the run's layout."""

from __future__ import annotations

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
