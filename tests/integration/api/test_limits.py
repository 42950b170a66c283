"""Issue 23, L1: every list and every creating route is bounded — page sizes and per-row payloads, the stats
names, the manifests read per call, an upload quota, and a per-user rate of timer creation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.api.ratelimit import WINDOW
from courier.stats.store import MAX_NAMES
from courier.timers import api as timers_api
from tests.helpers import api_app

TARGET = "http://127.0.0.1:9/hooks/"


@pytest.fixture
def client(
    courier_db: str, webhook_secret: str, storage: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    from courier.jobs import start

    monkeypatch.setattr(start, "wake", lambda now=None: False)  # no Airflow scheduler here
    timers_api.CREATE_RATE.clear()
    with TestClient(api_app("admin", username="alice")) as test_client:
        yield test_client
    timers_api.CREATE_RATE.clear()


def _files(courier_db: str, count: int) -> list[str]:
    ids = [f"file_{i:032x}" for i in range(count)]
    with psycopg.connect(courier_db) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO courier_job_files (file_id, path, bytes, sha256) VALUES (%s, %s, 1, 'x')",
            [(i, f"jobs/files/{i}/a.csv") for i in ids],
        )
    return ids


# ---------------------------------------------------------------- GET /courier/jobs
def test_a_job_listing_is_capped_and_carries_no_params_or_file_lists(client: TestClient, courier_db: str) -> None:
    """The attack: jobs with 1,000 files and ~60 KiB of params each, listed 1,000 at a time (~230 MB)."""
    files = _files(courier_db, 1000)
    big = {"blob": "x" * 60_000}
    jobs = [{"files_to_process": files, "params": big} for _ in range(5)]
    assert client.post("/jobs/batch", json={"jobs": jobs}).status_code == 202

    too_many = client.get("/jobs", params={"limit": 1000})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]

    page = client.get("/jobs", params={"limit": 200})
    assert page.status_code == 200, page.text
    listed = page.json()["jobs"]
    assert len(listed) == 5 and len(page.content) < 10_000  # ~1 KiB a job, not ~100 KiB
    for job in listed:
        assert "params" not in job and "files_to_process" not in job
        assert job["file_count"] == 1000 and job["params_bytes"] >= 60_000
    one = client.get(f"/jobs/{listed[0]['job_id']}").json()  # the single GET has it all
    assert one["params"] == big and len(one["files_to_process"]) == 1000


def test_the_jobs_page_shows_the_file_count(client: TestClient, courier_db: str) -> None:
    files = _files(courier_db, 3)
    assert client.post("/jobs", json={"files_to_process": files}).status_code == 202
    page = TestClient(client.app, root_path="/courier").get("/ui/jobs")
    assert page.status_code == 200 and ">3</td>" in page.text.replace(" ", "")


def test_a_timer_listing_is_capped(client: TestClient) -> None:
    """A timer carries up to 64 KiB of payload: 1,000 a page was ~64 MiB; 200 is the most a page takes."""
    assert client.post("/timers/batch", json={"timers": [{"url": TARGET, "delay_seconds": 60}] * 3}).status_code == 201
    too_many = client.get("/timers", params={"limit": 1000})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "limit"]
    assert len(client.get("/timers", params={"limit": 200}).json()["timers"]) == 3


# ---------------------------------------------------------------- GET /courier/stats/names
def test_the_stats_names_are_bounded(client: TestClient, courier_db: str) -> None:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    with psycopg.connect(courier_db) as conn:
        conn.execute(
            "INSERT INTO courier_stats (name, tags, minute, type, count, sum, min, max, avg, last, p50, p90, p95, p99)"
            " SELECT 'metric.' || lpad(n::text, 5, '0'), jsonb_build_object('k' || (n %% 3), 'v'), %s - m * interval"
            " '1 minute', 'timer', 1, 1, 1, 1, 1, 1, 1, 1, 1, 1"
            " FROM generate_series(1, %s) n, generate_series(0, 2) m",
            (minute, MAX_NAMES + 25),
        )
    names = client.get("/stats/names")
    assert names.status_code == 200, names.text
    listed = names.json()["names"]
    assert len(listed) == MAX_NAMES
    assert listed[0] == {"name": "metric.00001", "tag_keys": ["k1"]}
    assert [n["name"] for n in listed] == sorted(n["name"] for n in listed)


# ---------------------------------------------------------------- GET /courier/pages/manifests
def _manifests(storage: Path, count: int) -> tuple[list[str], set[str]]:
    """``count`` runs' manifests (every tenth failed); their run ids newest first, and the failed ones."""
    folder = storage / "pages" / "paginated_fanout"
    start = datetime(2026, 12, 1, tzinfo=UTC)
    run_ids, failed = [], set()
    for i in range(count):
        when = start + timedelta(minutes=i)
        run_id = f"manual__{when.isoformat()}"
        (folder / run_id).mkdir(parents=True)
        manifest: dict[str, Any] = {
            "run_id": run_id,
            "dag_id": "paginated_fanout",
            "status": "failed" if i % 10 == 0 else "success",
            "pages": 1,
            "pages_ok": 1,
            "rows": i,
            "batches": 1,
            "failed_pages": [],
            "created_at": when.isoformat(),
        }
        (folder / run_id / "manifest.json").write_text(json.dumps(manifest))
        run_ids.append(run_id)
        if manifest["status"] == "failed":
            failed.add(run_id)
    return run_ids[::-1], failed


def test_the_manifest_listing_reads_one_page_and_pages_on(
    client: TestClient, storage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from courier.pages import api as pages_api

    newest_first, failed_ids = _manifests(storage, 300)
    read: list[str] = []
    summary = pages_api._summary
    monkeypatch.setattr(pages_api, "_summary", lambda m: read.append(m["run_id"]) or summary(m))

    first = client.get("/pages/manifests", params={"limit": 5})
    assert first.status_code == 200, first.text
    assert [m["run_id"] for m in first.json()["manifests"]] == newest_first[:5]
    assert len(read) == 5  # not every run folder's manifest

    seen, cursor = [], None
    while True:
        page = client.get("/pages/manifests", params={"limit": 200, **({"cursor": cursor} if cursor else {})}).json()
        seen += [m["run_id"] for m in page["manifests"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first

    read.clear()  # a filter that skips most runs reads MAX_READS at most, and says where to go on
    failed = client.get("/pages/manifests", params={"limit": 200, "status": "failed"}).json()
    assert len(read) == pages_api.MAX_READS and failed["next_cursor"] is not None
    rest = client.get("/pages/manifests", params={"status": "failed", "cursor": failed["next_cursor"]}).json()
    got = [m["run_id"] for m in failed["manifests"] + rest["manifests"]]
    assert got == [r for r in newest_first if r in failed_ids] and rest["next_cursor"] is None
    bad = client.get("/pages/manifests", params={"cursor": "!!"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]


# ---------------------------------------------------------------- POST /courier/jobs/files
def test_uploads_stop_at_the_quota(client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_UPLOAD_QUOTA_BYTES", "100")
    first = client.post("/jobs/files", files={"file": ("a.csv", b"x" * 60, "text/csv")})
    assert first.status_code == 201, first.text
    second = client.post("/jobs/files", files={"file": ("b.csv", b"y" * 60, "text/csv")})
    assert second.status_code == 413, second.text
    assert "job_upload_quota_bytes" in second.json()["detail"][0]["msg"]
    small = client.post("/jobs/files", files={"file": ("c.csv", b"z" * 40, "text/csv")})  # what is left fits
    assert small.status_code == 201, small.text
    full = client.post("/jobs/files", files={"file": ("d.csv", b"w", "text/csv")})
    assert full.status_code == 413 and "job_upload_quota_bytes" in full.json()["detail"][0]["msg"]
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*), sum(bytes) FROM courier_job_files").fetchone() == (2, 100)


# ---------------------------------------------------------------- POST /courier/timers(/batch)
def test_timer_creation_is_rate_limited_per_user(
    client: TestClient, courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__TIMER_CREATE_RATE", "5")
    timer = {"url": TARGET, "delay_seconds": 3600}
    assert client.post("/timers/batch", json={"timers": [timer] * 3}).status_code == 201
    assert client.post("/timers", json=timer).status_code == 201
    assert client.post("/timers", json=timer).status_code == 201
    refused = client.post("/timers", json=timer)
    assert refused.status_code == 429, refused.text
    assert 1 <= int(refused.headers["Retry-After"]) <= WINDOW
    assert "timer_create_rate" in refused.json()["detail"][0]["msg"]
    assert client.post("/timers/batch", json={"timers": [timer] * 2}).status_code == 429
    with TestClient(api_app("admin", username="bob")) as other:  # another user has a minute of their own
        assert other.post("/timers", json=timer).status_code == 201
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_timers").fetchone() == (6,)
