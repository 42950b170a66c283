"""Pages against real components: the demo paged API over HTTP on loopback, S3 over the protocol (moto).

``courier pages fetch-batch`` (the pods' entry point) is run as a subprocess; planning, merging and snapshots
run in-process, exactly as the tasks call them.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from courier.demo import paged_api as demo_pages
from courier.pages.batch import run_batch
from courier.pages.batching import PlanError, result_url
from courier.pages.fanout import FanoutFailed, FanoutRequest, list_and_plan, merge
from courier.pages.snapshot import SnapshotRequest, take_snapshot
from tests.helpers import s3_client

COURIER = str(Path(sys.executable).with_name("courier"))
DAG_ID = "paginated_fanout"


@pytest.fixture(autouse=True)
def storage_root(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``[courier] storage_base``: the test's bucket, else its folder (a run's storage_base must lie under it)."""
    root = f"s3://{request.getfixturevalue('s3_bucket')}" if "s3_bucket" in request.fixturenames else tmp_path.as_uri()
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", root)
    return root


def s3_text(endpoint: str, url: str) -> str:
    bucket, _, key = url.removeprefix("s3://").partition("/")
    return str(s3_client(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def s3_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def expected_rows(pages: range, rows: int, seed: int) -> list[dict[str, str]]:
    """The demo's records for ``pages`` as CSV cells (booleans lower-case, missing flag empty)."""
    out = []
    for page in pages:
        for record in demo_pages.page_records(page, rows, seed):
            cells = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in record.items()}
            out.append({"flag": "", **cells})
    return out


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def fetch_batch_cli(batch: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [COURIER, "pages", "fetch-batch", "--batch", batch["batch_path"], "--out", batch["out_path"]],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_fetch_batch_retries_429_and_500_per_page_honouring_retry_after(
    paged_api: str, s3_server: str, s3_bucket: str
) -> None:
    query = {
        "pages": 40,
        "rows": 5,
        "latency_ms": 5,
        "fail_429": "3",
        "fail_500": "5",
        "fail_times": 2,
        "retry_after": 1.2,
    }
    request = FanoutRequest.from_params({"query": query, "storage_base": f"s3://{s3_bucket}/c"})
    [batch] = list_and_plan(request, DAG_ID, "run-429")

    done = fetch_batch_cli(batch)

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["pages"], summary["pages_ok"], summary["rows"], summary["failed_pages"]) == (40, 40, 200, 0)
    result = json.loads(s3_text(s3_server, result_url(batch["out_path"])))
    assert result["statuses"] == {"200": 40, "429": 2, "500": 2}
    # page 3 was told twice to wait 1.2 s: it cannot have finished sooner (backoff alone is <= 1.5 s in total)
    assert 2.4 <= result["slowest_page_seconds"] < 6
    stats = httpx.get(f"{paged_api}/_demo/pages/stats").json()
    assert stats["retried_pages"] == [3, 5]
    assert stats["statuses"] == {"200": 40, "429": 2, "500": 2}
    columns, rows = read_csv(s3_text(s3_server, batch["out_path"]))
    assert columns == ["id", "page", "row", "value", "name", "flag"]
    assert rows == expected_rows(range(40), 5, 1)


def test_fetch_batch_reports_a_bad_batch_file_and_exits_non_zero(paged_api: str, s3_bucket: str) -> None:
    done = fetch_batch_cli(
        {"batch_path": f"s3://{s3_bucket}/nope/batch-0000.json", "out_path": f"s3://{s3_bucket}/o.csv"}
    )
    assert done.returncode == 1
    assert "courier pages fetch-batch: FileNotFoundError" in done.stderr


def test_fanout_over_s3_merges_every_page_once_with_the_union_of_columns(
    paged_api: str, s3_server: str, s3_bucket: str
) -> None:
    params: dict[str, Any] = {
        "query": {"pages": 103, "rows": 7, "seed": 5, "latency_ms": 10, "links": "mixed", "records_key": "items"},
        "records_key": "items",
        "batch_size": 25,
        "concurrency": 8,
        "storage_base": f"s3://{s3_bucket}/c",
    }
    request = FanoutRequest.from_params(params)
    batches = list_and_plan(request, DAG_ID, "manual__2026-01-01T00:00:00+00:00")
    assert [b["batch_label"] for b in batches] == [
        "batch 1/5 · pages 0-20",
        "batch 2/5 · pages 21-41",
        "batch 3/5 · pages 42-62",
        "batch 4/5 · pages 63-82",
        "batch 5/5 · pages 83-102",
    ]
    assert all(set(b) == {"batch_path", "out_path", "batch_label"} for b in batches)  # XCom: paths and labels
    for batch in reversed(batches):  # finishing order must not matter
        run_batch(batch["batch_path"], batch["out_path"])

    outcome = merge(request, DAG_ID, "manual__2026-01-01T00:00:00+00:00")

    base = "c/pages/paginated_fanout/manual__2026-01-01T00:00:00+00:00"
    assert outcome == {
        "report": f"s3://{s3_bucket}/{base}/report.csv",
        "manifest": f"s3://{s3_bucket}/{base}/manifest.json",
        "pages": 103,
        "rows": 721,
        "failed_pages": 0,
    }
    columns, rows = read_csv(s3_text(s3_server, outcome["report"]))
    assert columns == ["id", "page", "row", "value", "name", "flag"]  # batch 1 has no flag until page 9
    assert rows == expected_rows(range(103), 7, 5)
    assert Counter(r["page"] for r in rows) == {str(p): 7 for p in range(103)}
    manifest = json.loads(s3_text(s3_server, outcome["manifest"]))
    assert manifest["status"] == "success"
    assert (manifest["pages"], manifest["pages_ok"], manifest["rows"], manifest["batches"]) == (103, 103, 721, 5)
    assert manifest["failed_pages"] == [] and manifest["missing_batches"] == []
    assert manifest["timings"]["total_seconds"] > 0
    plan = json.loads(s3_text(s3_server, f"s3://{s3_bucket}/{base}/plan.json"))
    assert plan["links"] == 103 and plan["batch_size"] == 21
    assert len(s3_keys(s3_server, s3_bucket, f"{base}/parts/")) == 10  # a part and a result per batch


def test_pages_failing_after_retries_fail_the_run_and_are_named(paged_api: str, s3_server: str, s3_bucket: str) -> None:
    params: dict[str, Any] = {
        "query": {"pages": 12, "rows": 3, "latency_ms": 0, "broken": "4,9"},
        "page_attempts": 2,
        "storage_base": f"s3://{s3_bucket}/c",
    }
    batches = list_and_plan(FanoutRequest.from_params(params), DAG_ID, "run-broken")
    for batch in batches:
        run_batch(batch["batch_path"], batch["out_path"])

    with pytest.raises(FanoutFailed, match=r"2 page\(s\) failed after retries, more than max_failed_pages=0"):
        merge(FanoutRequest.from_params(params), DAG_ID, "run-broken")
    manifest_url = f"s3://{s3_bucket}/c/pages/paginated_fanout/run-broken/manifest.json"
    manifest = json.loads(s3_text(s3_server, manifest_url))
    assert manifest["status"] == "failed" and manifest["report"] is None
    assert [(f["page"], f["error"].split(":")[-1].strip()) for f in manifest["failed_pages"]] == [
        (4, "HTTP 500"),
        (9, "HTTP 500"),
    ]
    assert "c/pages/paginated_fanout/run-broken/report.csv" not in s3_keys(s3_server, s3_bucket)
    assert httpx.get(f"{paged_api}/_demo/pages/stats").json()["statuses"]["500"] == 4  # 2 pages x 2 attempts

    tolerant = FanoutRequest.from_params({**params, "max_failed_pages": 2})
    outcome = merge(tolerant, DAG_ID, "run-broken")
    assert (outcome["rows"], outcome["failed_pages"]) == (30, 2)
    _, rows = read_csv(s3_text(s3_server, outcome["report"]))
    assert sorted({int(r["page"]) for r in rows}) == [p for p in range(12) if p not in (4, 9)]


def test_merge_names_a_batch_that_left_no_result_for_this_plan(paged_api: str, tmp_path: Path) -> None:
    params = {"query": {"pages": 6, "rows": 1, "latency_ms": 0}, "batch_size": 3, "storage_base": tmp_path.as_uri()}
    for batch in list_and_plan(FanoutRequest.from_params(params), DAG_ID, "run-missing"):
        run_batch(batch["batch_path"], batch["out_path"])  # a first try of the run: every batch done
    batches = list_and_plan(FanoutRequest.from_params(params), DAG_ID, "run-missing")  # the run is cleared
    run_batch(batches[0]["batch_path"], batches[0]["out_path"])  # batch 2 never runs again: its result is stale
    with pytest.raises(FanoutFailed, match=r"batch\(es\) \[1\] left no result"):
        merge(FanoutRequest.from_params(params), DAG_ID, "run-missing")
    manifest = json.loads((tmp_path / "pages/paginated_fanout/run-missing/manifest.json").read_text())
    assert manifest["missing_batches"] == [1] and manifest["status"] == "failed"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_snapshot_to_s3_replaces_the_interval_file(paged_api: str, s3_server: str, s3_bucket: str, fmt: str) -> None:
    target = f"s3://{s3_bucket}/snap/snapshots/api_snapshot/20260101T000000Z-20260101T001500Z.csv"
    for seed in (1, 2):
        request = SnapshotRequest.from_params({"query": {"seed": seed, "rows": 9, "format": fmt}, "format": "auto"})
        outcome = take_snapshot(request, target)
        assert (outcome["rows"], outcome["format"]) == (9, fmt)
    assert s3_keys(s3_server, s3_bucket, "snap/") == [
        "snap/snapshots/api_snapshot/20260101T000000Z-20260101T001500Z.csv"
    ]
    columns, rows = read_csv(s3_text(s3_server, target))
    assert columns == ["id", "name", "value", "ok"]
    expected = [
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
        for r in demo_pages.data_records(9, 2)
    ]
    assert rows == expected


def test_snapshot_of_a_failing_endpoint_leaves_the_previous_file(paged_api: str, tmp_path: Path) -> None:
    target = (tmp_path / "snap.csv").as_uri()
    take_snapshot(SnapshotRequest.from_params({}), target)
    before = (tmp_path / "snap.csv").read_text()
    with pytest.raises(httpx.HTTPStatusError):
        take_snapshot(SnapshotRequest.from_params({"endpoint": "/no-such-endpoint"}), target)
    assert (tmp_path / "snap.csv").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snap.csv"]


def test_more_links_than_max_map_length_in_a_few_batches(paged_api: str, tmp_path: Path) -> None:
    params = {"query": {"pages": 1100, "rows": 1, "latency_ms": 0}, "storage_base": tmp_path.as_uri()}
    batches = list_and_plan(FanoutRequest.from_params(params), DAG_ID, "run-1100")
    assert len(batches) == 9
    for batch in batches:
        run_batch(batch["batch_path"], batch["out_path"])
    outcome = merge(FanoutRequest.from_params(params), DAG_ID, "run-1100")
    assert (outcome["pages"], outcome["rows"]) == (1100, 1100)
    with (tmp_path / "pages/paginated_fanout/run-1100/report.csv").open() as stream:
        assert [row["page"] for row in csv.DictReader(stream)] == [str(p) for p in range(1100)]


def test_kubernetes_mode_refuses_local_storage(paged_api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__EXECUTION_MODE", "kubernetes")
    params = {"query": {"pages": 3}, "storage_base": tmp_path.as_uri()}
    with pytest.raises(PlanError, match="pods can reach"):
        list_and_plan(FanoutRequest.from_params(params), DAG_ID, "run-k8s-file")


def test_an_endpoint_with_its_own_query_keeps_it(paged_api: str, tmp_path: Path) -> None:
    target = (tmp_path / "snap.csv").as_uri()
    assert take_snapshot(SnapshotRequest.from_params({"endpoint": "/data?rows=3&seed=4"}), target)["rows"] == 3
    merged = SnapshotRequest.from_params({"endpoint": "/data?rows=3", "query": {"seed": 4}})
    assert take_snapshot(merged, target)["rows"] == 3
    _, rows = read_csv((tmp_path / "snap.csv").read_text())
    assert rows[0]["name"] == "snapshot-4-0"
