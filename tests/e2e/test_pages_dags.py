"""Pages end to end on the real stack (scheduler, LocalExecutor, ``execution_mode = local``), storage on S3 (moto).

Budget: ~1 minute on a quiet 2-core machine (the 1000-page fan-out ~25 s, two snapshot runs ~10 s each).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from typing import Any

import httpx

from courier.demo import paged_api as demo_pages
from courier.runtime.airflow_api import AirflowApi
from courier.runtime.stack import Stack
from tests.helpers import s3_client

PAGES, ROWS, SEED = 1000, 100, 11


def _s3_text(endpoint: str, bucket: str, key: str) -> str:
    return str(s3_client(endpoint).get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def _keys(endpoint: str, bucket: str, prefix: str) -> list[str]:
    listing = s3_client(endpoint).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def _cells(record: dict[str, Any]) -> dict[str, str]:
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in record.items()}


def test_paginated_fanout_merges_1000_pages_each_exactly_once(api: AirflowApi, e2e_s3: tuple[str, str]) -> None:
    endpoint, bucket = e2e_s3
    conf = {
        "query": {"pages": PAGES, "rows": ROWS, "latency_ms": 50, "seed": SEED, "fail_429": "17", "retry_after": 1},
        "storage_base": f"s3://{bucket}/fanout-e2e",
    }
    began = time.monotonic()
    run_id = api.trigger("paginated_fanout", conf)
    run = api.wait_for_run("paginated_fanout", run_id, timeout=240)
    elapsed = time.monotonic() - began
    assert run["state"] == "success", api.task_instances("paginated_fanout", run_id)

    tis = api.task_instances("paginated_fanout", run_id)
    batches = sorted((t for t in tis if t["task_id"] == "fetch_batch"), key=lambda t: t["map_index"])
    assert len(batches) == 8  # 1000 links, 125 per batch: far below max_map_length, whatever the page count
    assert [t["rendered_map_index"] for t in batches][:2] == ["batch 1/8 · pages 0-124", "batch 2/8 · pages 125-249"]
    assert {t["state"] for t in tis} == {"success"}

    base = f"fanout-e2e/pages/paginated_fanout/{run_id}"
    manifest = json.loads(_s3_text(endpoint, bucket, f"{base}/manifest.json"))
    assert manifest["status"] == "success"
    assert (manifest["pages"], manifest["pages_ok"], manifest["rows"]) == (PAGES, PAGES, PAGES * ROWS)
    assert manifest["failed_pages"] == [] and manifest["statuses"]["429"] == 1
    reader = csv.DictReader(io.StringIO(_s3_text(endpoint, bucket, f"{base}/report.csv")))
    rows = list(reader)
    assert reader.fieldnames == ["id", "page", "row", "value", "name", "flag"]
    assert len(rows) == PAGES * ROWS
    assert Counter(r["page"] for r in rows) == {str(p): ROWS for p in range(PAGES)}  # every page, once
    expected = ({"flag": "", **_cells(r)} for p in range(PAGES) for r in demo_pages.page_records(p, ROWS, SEED))
    assert all(got == want for got, want in zip(rows, expected, strict=True))
    print(f"paginated_fanout: {PAGES} pages in {elapsed:.1f}s wall; manifest timings {manifest['timings']}")


def test_api_snapshot_writes_its_interval_file_and_a_rerun_replaces_it(
    stack: Stack, api: AirflowApi, e2e_s3: tuple[str, str]
) -> None:
    endpoint, bucket = e2e_s3
    prefix = "snapshot-e2e/snapshots/api_snapshot/"
    demo = httpx.Client(base_url=stack.demo_url, timeout=10)
    try:
        demo.post("/_demo/pages/config", json={"data_seed": 21, "data_rows": 12}).raise_for_status()
        run_id = api.trigger("api_snapshot", {"storage_base": f"s3://{bucket}/snapshot-e2e"})
        assert api.wait_for_run("api_snapshot", run_id, timeout=120)["state"] == "success"
        [key] = _keys(endpoint, bucket, prefix)
        assert key.endswith("Z.csv")
        first = list(csv.DictReader(io.StringIO(_s3_text(endpoint, bucket, key))))
        assert first == [_cells(r) for r in demo_pages.data_records(12, 21)]

        demo.post("/_demo/pages/config", json={"data_seed": 22}).raise_for_status()
        api.request(
            "POST",
            "/api/v2/dags/api_snapshot/clearTaskInstances",
            json={"dry_run": False, "dag_run_id": run_id, "only_failed": False, "task_ids": ["snapshot"]},
        ).raise_for_status()
        assert api.wait_for_run("api_snapshot", run_id, timeout=120)["state"] == "success"
        [task] = api.task_instances("api_snapshot", run_id)
        assert task["try_number"] == 2  # it really ran again ...
        assert _keys(endpoint, bucket, prefix) == [key]  # ... and replaced the interval's file instead of adding one
        again = list(csv.DictReader(io.StringIO(_s3_text(endpoint, bucket, key))))
        assert again == [_cells(r) for r in demo_pages.data_records(12, 22)]
    finally:
        demo.post("/_demo/pages/config", json={"data_seed": 1, "data_rows": 50})
        demo.close()
