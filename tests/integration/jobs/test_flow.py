"""Jobs on real parts: PostgreSQL, the Courier app and the demo processor on loopback, file:// and S3 storage.

The ``process`` task and its trigger (:class:`courier.jobs.trigger.JobsTrigger`) run here as Airflow runs
them (``execute``, the trigger rebuilt from its serialized form, ``execute_complete`` with the event, again
while it defers: :func:`tests.helpers.run_deferring`), without Airflow's scheduler; the end-to-end layer
covers the DAGs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient

from courier.jobs.store import JobStore
from courier.timers.models import NewTimer, new_id
from tests.helpers import api_app, first_event, rebuilt, run_deferring


@pytest.fixture
def courier(
    courier_db: str, processor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, str]]:
    """The Courier app (as an admin) as a test client, and the same app served on loopback for the processor."""
    from courier.demo.server import serve_in_thread
    from courier.jobs import start

    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", (tmp_path / "store").as_uri())
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "test-jwt-secret")
    monkeypatch.setenv("AIRFLOW_CONN_JOBS_API_DEFAULT", processor)
    monkeypatch.setattr(start, "wake", lambda now=None: False)  # no Airflow scheduler here
    from fastapi import FastAPI

    app = api_app("admin")
    mounted = FastAPI()
    mounted.mount("/courier", app)  # as the plugin mounts it in Airflow's API server
    with serve_in_thread(mounted) as url:
        monkeypatch.setenv("AIRFLOW__API__BASE_URL", url)
        with TestClient(app) as client:
            yield client, url


def _push(client: TestClient, data: bytes, name: str = "data.csv") -> dict[str, Any]:
    response = client.post("/jobs/files", files={"file": (name, data, "text/csv")})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _submit(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/jobs", json=body)
    assert response.status_code == 202, response.text
    return dict(response.json())


def _drive(owner: str, timeout: float = 900.0, limit: int = 1000) -> list[str]:
    """Claim queued jobs as ``owner`` and run the ``process`` task with its trigger until none is open."""
    from courier.jobs.operators import ProcessJobsOperator

    store = JobStore()
    ids = [w.job_id for w in [*store.owned(owner), *store.claim(owner, limit, timeout)]]
    task = ProcessJobsOperator(task_id="process", job_ids=ids, poll_interval=0.1, hold=0.2)
    _, events = run_deferring(task, {"run_id": owner})
    assert all(e["status"] == "success" for e in events), events
    assert store.owned(owner, ids) == []
    return ids


def _processor_stats(processor: str) -> dict[str, Any]:
    return dict(httpx.get(f"{processor}/_demo/processor/stats").json())


def test_push_submit_process_success_then_downloaded_bytes_identical(
    courier: tuple[TestClient, str], processor: str
) -> None:
    client, _ = courier
    data = b"a,b\n1,2\n3,4\n"
    pushed = _push(client, data)
    assert pushed["bytes"] == len(data) and pushed["sha256"] == hashlib.sha256(data).hexdigest()
    job = _submit(client, {"files_to_process": [pushed["file_id"]], "params": {"key": "one"}})
    assert job["status"] == "queued" and job["retries"] == 0
    _drive("run-1")
    done = client.get(f"/jobs/{job['job_id']}").json()
    assert done["status"] == "success", done
    assert done["report_file_path"] == f"jobs/{job['job_id']}/report.csv"
    assert [a["outcome"] for a in done["attempts"]] == ["success"]
    upstream = httpx.get(f"{processor}/results/{done['upstream_id']}").content
    assert f"data.csv,{len(data)},3,{hashlib.sha256(data).hexdigest()}".encode() in upstream
    report = client.get(f"/jobs/{job['job_id']}/report")
    assert report.content == upstream and report.headers["x-content-type-options"] == "nosniff"
    assert report.headers["content-security-policy"].startswith("sandbox; default-src 'none'")

    from courier.jobs.download import download_all

    assert download_all(JobStore()) == 1
    final = client.get(f"/jobs/{job['job_id']}").json()
    assert final["status"] == "downloaded" and final["downloaded_at"] is not None
    assert client.get(f"/jobs/{job['job_id']}/report").content == upstream
    assert download_all(JobStore()) == 0


def test_claims_follow_arrival_order(courier: tuple[TestClient, str]) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    ids = [_submit(client, {"files_to_process": [file_id]})["job_id"] for _ in range(5)]
    first = [w.job_id for w in JobStore().claim("a", 2, 900)]
    rest = [w.job_id for w in JobStore().claim("b", 10, 900)]
    assert first + rest == ids


def test_many_queued_jobs_make_few_bigger_batches_in_arrival_order(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.operators import claim_batches

    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    ids = [_submit(client, {"files_to_process": [file_id]})["job_id"] for _ in range(10)]
    few = claim_batches("few", batch=2, limit=3, max_batches=3)
    assert [b["job_ids"] for b in few] == [ids[0:2], ids[2:3]]  # few jobs: batches of the minimum size
    many = claim_batches("many", batch=2, max_batches=3)
    assert [b["batch_label"] for b in many] == ["jobs 1-3", "jobs 4-6", "jobs 7-7"]
    assert [j for b in many for j in b["job_ids"]] == ids[3:]


def test_the_api_pool_replaces_connections_the_database_dropped(
    courier: tuple[TestClient, str], courier_db: str
) -> None:
    """A database restart ends every pooled connection: the next requests get fresh ones, not errors."""
    from courier.db import pool

    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    _submit(client, {"files_to_process": [file_id]})
    with psycopg.connect(courier_db, autocommit=True) as admin:
        ended = admin.execute(
            "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "  # returns once they are gone
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1  # the pool held a connection
    for _ in range(pool.MAX_SIZE + 2):
        _submit(client, {"files_to_process": [file_id]})
    assert len(client.get("/jobs", params={"limit": 100}).json()["jobs"]) == pool.MAX_SIZE + 3


def test_processor_fails_once_then_retried_once_to_success(courier: tuple[TestClient, str], processor: str) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    job = _submit(client, {"files_to_process": [file_id], "params": {"key": "flaky", "fail_times": 1}})
    _drive("run-1")
    done = client.get(f"/jobs/{job['job_id']}").json()
    assert done["status"] == "success" and done["retries"] == 1
    assert [a["outcome"] for a in done["attempts"]] == ["failed", "success"]
    assert _processor_stats(processor)["submits"]["flaky"] == 2


def test_hangs_twice_failed_after_two_timeouts(
    courier: tuple[TestClient, str], processor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_TIMEOUT", "1")
    file_id = _push(client, b"x\n")["file_id"]
    job = _submit(client, {"files_to_process": [file_id], "params": {"key": "stuck", "hang_times": 2}})
    _drive("run-1", timeout=1.0)
    done = client.get(f"/jobs/{job['job_id']}").json()
    assert done["status"] == "failed" and done["retries"] == 1 and "timed out" in done["error"]
    assert [a["outcome"] for a in done["attempts"]] == ["timeout", "timeout"]
    assert _processor_stats(processor)["submits"]["stuck"] == 2
    assert client.get(f"/jobs/{job['job_id']}/report").status_code == 409


def test_resumed_trigger_does_not_resubmit_a_live_attempt(courier: tuple[TestClient, str], processor: str) -> None:
    """The task submits and defers; its trigger stops (triggerer restart) and another, rebuilt from the
    serialized trigger, resumes: each job submitted once, and no job left open."""
    from airflow.sdk.exceptions import TaskDeferred

    from courier.jobs.operators import ProcessJobsOperator

    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    httpx.post(f"{processor}/_demo/processor/config", json={"delay": 1.0})
    jobs = [_submit(client, {"files_to_process": [file_id], "params": {"key": f"k{i}"}}) for i in range(3)]
    ids = [w.job_id for w in JobStore().claim("run-1", 10, 900)]
    task = ProcessJobsOperator(task_id="process", job_ids=ids, poll_interval=0.1, hold=0.2)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "run-1"})
    assert all(JobStore().get(j["job_id"]).upstream_id for j in jobs)

    async def first_triggerer() -> None:
        agen = rebuilt(deferred.value.trigger).run()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(agen.__anext__(), 0.5)  # still waiting: the triggerer stops
        await agen.aclose()

    asyncio.run(first_triggerer())
    event = asyncio.run(first_event(rebuilt(deferred.value.trigger), 30)).payload
    assert sorted(o["job_id"] for o in event["outcomes"]) == sorted(ids) and event["waiting"] == []
    assert task.execute_complete({"run_id": "run-1"}, event) == {"submitted": 3, "success": 3}
    assert {JobStore().get(j["job_id"]).status for j in jobs} == {"success"}
    assert _processor_stats(processor)["submits"] == {f"k{i}": 1 for i in range(3)}


def _race(fn: Any, times: int = 2) -> list[Any]:
    results: list[Any] = [None] * times
    barrier = threading.Barrier(times)

    def run(i: int) -> None:
        barrier.wait()
        results[i] = fn()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_sweeps_at_once_change_each_job_once(courier: tuple[TestClient, str], courier_db: str) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    ids = [_submit(client, {"files_to_process": [file_id]})["job_id"] for _ in range(40)]
    store = JobStore()
    store.claim("dead-run", 40, 900)
    with psycopg.connect(courier_db, autocommit=True) as conn:  # the owner died; half were retried already
        conn.execute("UPDATE courier_jobs SET deadline_at = now() - interval '1 hour'")
        conn.execute("UPDATE courier_jobs SET retries = 1 WHERE job_id = ANY(%s)", (ids[:20],))
    moved = [m for batch in _race(lambda: store.sweep(60.0)) for m in batch]
    assert sorted(m.job_id for m in moved) == sorted(ids)
    statuses = {j: store.get(j).status for j in ids}
    assert {statuses[j] for j in ids[:20]} == {"failed"} and {statuses[j] for j in ids[20:]} == {"queued"}
    assert store.sweep(60.0) == []
    assert {w.job_id for w in store.claim("next-run", 100, 900)} == set(ids[20:])


def test_two_downloads_at_once_download_each_job_once(courier: tuple[TestClient, str], courier_db: str) -> None:
    from courier.jobs.download import download_all

    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    ids = [_submit(client, {"files_to_process": [file_id]})["job_id"] for _ in range(20)]
    store = JobStore()
    store.claim("r", 20, 900)
    for job_id in ids:
        store.succeed(job_id, "r", f"http://processor.invalid/results/{job_id}", None)
    fetched: list[str] = []
    lock = threading.Lock()

    def fetch(url: str, job_id: str) -> str:
        with lock:
            fetched.append(job_id)
        from courier.storage import storage_base

        target = storage_base() / f"jobs/{job_id}/report.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(url.encode())
        return f"jobs/{job_id}/report.csv"

    counts = _race(lambda: download_all(store, fetch=fetch))
    assert sum(counts) == 20 and sorted(fetched) == sorted(ids)
    assert {store.get(j).status for j in ids} == {"downloaded"}


def test_a_failed_download_leaves_the_job_success(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.download import download_all

    client, _ = courier
    job = _submit(client, {"files_to_process": [_push(client, b"x\n")["file_id"]]})
    store = JobStore()
    store.claim("r", 1, 900)
    store.succeed(job["job_id"], "r", "http://127.0.0.1:9/results/gone", None)

    def fail(url: str, job_id: str) -> str:
        raise httpx.ConnectError("refused")

    assert download_all(store, fetch=fail) == 0
    assert store.get(job["job_id"]).status == "success"


def test_cancel_queued_and_processing_and_refuse_final(courier: tuple[TestClient, str], processor: str) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    queued = _submit(client, {"files_to_process": [file_id]})
    cancelled = client.post(f"/jobs/{queued['job_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/jobs/{queued['job_id']}/cancel").status_code == 409
    assert client.get(f"/jobs/{queued['job_id']}").json()["status"] == "cancelled"  # the record stays
    assert client.post("/jobs/job_nope/cancel").status_code == 404
    running = _submit(client, {"files_to_process": [file_id], "params": {"hang": True}})
    store = JobStore()
    (work,) = store.claim("r", 10, 900)
    store.record_submit(work.job_id, "r", "up-x")  # as if submitted
    assert client.post(f"/jobs/{running['job_id']}/cancel").json()["status"] == "cancelled"
    assert store.owned("r") == [] and store.succeed(work.job_id, "r", None, None).status is None


def test_same_idempotency_key_returns_the_existing_job(courier: tuple[TestClient, str], courier_db: str) -> None:
    client, _ = courier
    body = {"files_to_process": [_push(client, b"x\n")["file_id"]], "idempotency_key": "order-9"}
    first = _submit(client, body)
    again = client.post("/jobs", json=body)
    assert again.status_code == 200 and again.json()["job_id"] == first["job_id"]
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (1,)


@pytest.mark.parametrize(
    ("files", "loc"),
    [
        (["file_" + "0" * 32], ["body", "files_to_process", 0]),
        (["../secret.txt"], ["body", "files_to_process", 0]),
        (["s3://another-bucket/data.csv"], ["body", "files_to_process", 0]),
        (["jobs/files/none/such.csv"], ["body", "files_to_process", 0]),
        ([], ["body", "files_to_process"]),
    ],
)
def test_bad_files_are_422_naming_the_field_and_store_nothing(
    courier: tuple[TestClient, str], courier_db: str, files: list[str], loc: list[object]
) -> None:
    client, _ = courier
    response = client.post("/jobs", json={"files_to_process": files})
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == loc
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (0,)


def test_private_callback_url_is_422_when_private_targets_are_refused(
    courier: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    file_id = _push(client, b"x\n")["file_id"]
    response = client.post("/jobs", json={"files_to_process": [file_id], "callback_url": "http://127.0.0.1/hook"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "callback_url"]


def test_callback_names_that_never_resolve_are_422_within_the_deadline(
    courier: tuple[TestClient, str], courier_db: str, monkeypatch: pytest.MonkeyPatch, no_system_lookups: list[str]
) -> None:
    """Security review #23, M1, for job callbacks: a name server that never answers (a real UDP server on
    loopback swallowing every query) costs a submit at most [courier] webhook_dns_timeout, on the event loop;
    a batch naming more than MAX_HOSTS callback hosts is 422 naming the limit."""
    from courier.webhooks import policy
    from tests.dnsstub import DnsStub

    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_DNS_TIMEOUT", "1")
    file_id = _push(client, b"x\n")["file_id"]
    with DnsStub({}) as stub:
        monkeypatch.setattr(policy, "NAME_SERVERS", (stub.address,), raising=False)
        started = time.monotonic()
        one = client.post(
            "/jobs", json={"files_to_process": [file_id], "callback_url": "https://cb.blackhole.example/"}
        )
        elapsed = time.monotonic() - started
        jobs = [{"files_to_process": [file_id], "callback_url": f"https://c{i}.blackhole.example/"} for i in range(60)]
        many = client.post("/jobs/batch", json={"jobs": jobs})
    assert one.status_code == 422 and "did not answer within 1s" in one.text, one.text
    assert one.json()["detail"][0]["loc"] == ["body", "callback_url"]
    assert elapsed < 4, f"answered after {elapsed:.1f}s (deadline 1 s)"
    assert many.status_code == 422 and f"at most {policy.MAX_HOSTS}" in many.text, many.text
    assert stub.queries and no_system_lookups == []
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (0,)


def test_upload_past_the_limit_is_413_and_keeps_nothing(
    courier: tuple[TestClient, str], courier_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__JOB_MAX_UPLOAD_BYTES", "1000")
    response = client.post("/jobs/files", files={"file": ("big.bin", b"x" * 5000)})
    assert response.status_code == 413 and response.json()["detail"][0]["loc"] == ["body", "file"]
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert stored == []
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_job_files").fetchone() == (0,)


def test_the_upload_schema_is_one_file_part_and_the_form_keeps_its_field_limit(
    courier: tuple[TestClient, str], courier_db: str, tmp_path: Path
) -> None:
    """The documented body is the one ``file`` part (schemathesis generates schema-valid forms from it); the
    reader tolerates a few other fields, and a form with more than MAX_FORM_FIELDS of them is a 400 naming the
    limit, with nothing stored."""
    from courier.jobs.api import MAX_FORM_FIELDS

    client, _ = courier
    body = client.get("/openapi.json").json()["paths"]["/jobs/files"]["post"]["requestBody"]
    schema = body["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"] and schema["additionalProperties"] is False
    fields = {f"extra{n}": "x" for n in range(MAX_FORM_FIELDS + 1)}
    response = client.post("/jobs/files", files={"file": ("a.csv", b"a\n")}, data=fields)
    assert response.status_code == 400 and f"Maximum number of fields is {MAX_FORM_FIELDS}" in response.text
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_job_files").fetchone() == (0,)
    fewer = {f"extra{n}": "x" for n in range(MAX_FORM_FIELDS - 1)}
    assert client.post("/jobs/files", files={"file": ("a.csv", b"a\n")}, data=fewer).status_code == 201


def _job_file(client: TestClient, data: bytes, name: str = "data.csv") -> tuple[str, str]:
    """Push ``data`` and submit a job naming it; return (job id, the file's storage-relative path)."""
    pushed = _push(client, data, name)
    job = _submit(client, {"files_to_process": [pushed["file_id"]]})
    return job["job_id"], pushed["path"].split("/store/", 1)[1]


def test_signed_file_route_over_http(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.fetch_urls import file_url

    client, url = courier
    data = b"signed bytes\n"
    job_id, relative = _job_file(client, data)
    signed = file_url(relative, job_id, int(time.time()) + 60)
    assert signed.startswith(url) and "token=" in signed and f"job={job_id}" in signed
    answer = httpx.get(signed)  # no bearer token
    assert answer.status_code == 200 and answer.content == data
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("sandbox; default-src 'none'")
    assert httpx.get(signed.replace("token=", "token=0")).status_code == 403
    assert httpx.get(signed.replace(relative.split("/")[-1], "other.csv")).status_code == 403
    expired = file_url(relative, job_id, int(time.time()) - 1)
    assert httpx.get(expired).status_code == 403


def test_malformed_or_missing_signatures_are_403(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.fetch_urls import file_url

    client, _ = courier
    job_id, relative = _job_file(client, b"x\n")
    signed = httpx.URL(file_url(relative, job_id, int(time.time()) + 60))
    good = dict(signed.params)
    for token in ("é" * 64, "ü", "0" * 63, "0" * 65, "x" * 5000, ""):
        answer = httpx.get(signed.copy_with(params={**good, "token": token}))
        assert answer.status_code == 403, (token[:5], answer.status_code, answer.text)
        assert answer.json()["detail"][0]["loc"] == ["query", "token"]
    for missing in ("token", "job", "path", "expires"):
        kept = {k: v for k, v in good.items() if k != missing}
        assert httpx.get(signed.copy_with(params=kept)).status_code == 403, missing
    assert httpx.get(signed.copy_with(params={**good, "expires": "é"})).status_code == 403


def test_a_url_for_one_job_does_not_serve_another_jobs_file(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.fetch_urls import file_url

    client, _ = courier
    job_a, file_a = _job_file(client, b"a\n", "a.csv")
    job_b, file_b = _job_file(client, b"b\n", "b.csv")
    expires = int(time.time()) + 60
    url_a = httpx.URL(file_url(file_a, job_a, expires))
    assert httpx.get(url_a).content == b"a\n"
    # job A's signature with job B's id (or B's file): the signature does not match
    assert httpx.get(url_a.copy_with(params={**url_a.params, "job": job_b})).status_code == 403
    assert httpx.get(url_a.copy_with(params={**url_a.params, "path": file_b})).status_code == 403
    # a correctly signed URL naming job A and job B's file: job A does not name that file
    crossed = httpx.get(file_url(file_b, job_a, expires))
    assert crossed.status_code == 403 and f"job {job_a} does not name this file" in crossed.text
    unknown = httpx.get(file_url(file_a, "job_" + "0" * 32, expires))
    assert unknown.status_code == 403


def test_file_urls_end_at_the_job_deadline(courier: tuple[TestClient, str]) -> None:
    from courier.jobs.processor_client import _file_urls

    client, _ = courier
    job_id, _ = _job_file(client, b"deadline\n")
    (work,) = JobStore().claim("deadline-owner", 10, 2.0)  # job_timeout of 2 s for this claim
    assert work.job_id == job_id and work.deadline_at is not None
    (url,) = _file_urls(work)
    expires = int(httpx.URL(url).params["expires"])
    assert expires <= work.deadline_at.timestamp() <= expires + 1  # not 24 h: the job's deadline
    assert httpx.get(url).content == b"deadline\n"
    time.sleep(max(0.0, expires + 1.1 - time.time()))
    refused = httpx.get(url)
    assert refused.status_code == 403 and "expired" in refused.text


def test_the_signature_is_masked_in_the_api_servers_access_log(courier: tuple[TestClient, str]) -> None:
    """Airflow's API server logs each request through ``HttpAccessLogMiddleware`` (logger ``http.access``)."""
    import structlog
    from airflow.api_fastapi.common.http_access_log import HttpAccessLogMiddleware
    from fastapi import FastAPI

    from courier.jobs.fetch_urls import file_url

    client, _ = courier
    job_id, relative = _job_file(client, b"logged\n")
    outer = FastAPI()
    outer.add_middleware(HttpAccessLogMiddleware)
    outer.mount("/courier", client.app)  # type: ignore[arg-type]
    signed = httpx.URL(file_url(relative, job_id, int(time.time()) + 60, base_url="http://testserver"))
    with structlog.testing.capture_logs() as logs, TestClient(outer) as logged:
        assert logged.get(str(signed)).content == b"logged\n"
    (line,) = [e for e in logs if e.get("event") == "request finished"]
    assert line["path"] == "/courier/jobs/files/content"
    assert signed.params["token"] not in str(line) and "token=%2A%2A%2A" in line["query"], line
    assert f"job={job_id}" in line["query"]  # the rest of the query stays readable


def test_processor_reads_files_through_s3_presigned_urls(
    courier: tuple[TestClient, str], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", f"s3://{s3_bucket}/courier")
    data = b"on s3\n1\n"
    pushed = _push(client, data, "s3.csv")
    assert pushed["path"].startswith(f"s3://{s3_bucket}/courier/jobs/files/")
    from courier.jobs.fetch_urls import file_url

    url = file_url(pushed["path"].split("/courier/", 1)[1], "job_" + "0" * 32, int(time.time()) + 60)
    assert "X-Amz-Signature" in url or "Signature" in url
    job = _submit(client, {"files_to_process": [pushed["path"]]})  # an absolute path under the base works too
    _drive("run-s3")
    done = client.get(f"/jobs/{job['job_id']}").json()
    assert done["status"] == "success", done
    assert hashlib.sha256(data).hexdigest().encode() in client.get(f"/jobs/{job['job_id']}/report").content


def test_final_statuses_are_delivered_signed_by_the_timer_dispatcher_once_each(
    courier: tuple[TestClient, str], receiver: str, webhook_secret: str, courier_db: str
) -> None:
    from courier.demo import receiver as demo_receiver
    from courier.jobs.callbacks import notify
    from courier.jobs.download import download_all
    from courier.jobs.rules import Status
    from courier.jobs.store import Moved
    from courier.timers.dispatcher import Dispatcher, DispatcherSettings

    client, _ = courier
    body = {"files_to_process": [_push(client, b"x\n")["file_id"]], "callback_url": f"{receiver}/hooks/jobs/"}
    job = _submit(client, body)
    _drive("run-cb")
    assert download_all(JobStore()) == 1
    again = notify(Moved(job["job_id"], Status.SUCCESS, body["callback_url"]))  # announced twice: one delivery
    with psycopg.connect(courier_db) as conn:
        rows = conn.execute("SELECT id, url FROM courier_timers ORDER BY created_at").fetchall()
    assert len(rows) == 2 and again == rows[0][0], rows  # success, downloaded
    assert all(url == body["callback_url"] for _, url in rows)

    async def deliver() -> None:
        dispatcher = Dispatcher(courier_db, DispatcherSettings(secret=webhook_secret, allow_private=True))
        task = asyncio.create_task(dispatcher.run())
        for _ in range(100):
            if len(demo_receiver.STATE.arrivals) >= 2:
                break
            await asyncio.sleep(0.1)
        dispatcher.stop()
        await asyncio.wait_for(task, 30)

    asyncio.run(deliver())
    arrived = demo_receiver.STATE.arrivals
    assert sorted(a["payload"]["status"] for a in arrived) == ["downloaded", "success"]  # signatures verified
    assert {a["payload"]["job_id"] for a in arrived} == {job["job_id"]}
    assert {a["webhook_id"] for a in arrived} == {r[0] for r in rows}
    assert {a["origin"] for a in arrived} == {"job-event"} and all(r[0].startswith("evt_") for r in rows)


def test_a_timer_forging_a_job_event_is_refused_by_the_demo_receiver(
    receiver: str, webhook_secret: str, courier_db: str
) -> None:
    """Anyone who may create timers can send a job-shaped body to a job's callback_url; the demo receiver,
    checking the origin as docs/timers.md says, answers 401 and records nothing."""
    from courier.demo import receiver as demo_receiver
    from courier.timers.dispatcher import Dispatcher, DispatcherSettings
    from courier.timers.store import TimerStore
    from tests.integration.timers.test_dispatch import _all_final, _running, _until

    forged = {"type": "job.success", "job_id": "job_forged", "status": "success"}
    ((timer, _),) = TimerStore(courier_db).create(
        [NewTimer(new_id(), f"{receiver}/hooks/jobs/", datetime.now(UTC), forged, {}, None, None)]
    )

    async def deliver() -> None:
        async with _running(Dispatcher(courier_db, DispatcherSettings(secret=webhook_secret, allow_private=True))):
            await _until(lambda: _all_final(courier_db), 30, "the forged timer to end")

    asyncio.run(deliver())
    got = TimerStore(courier_db).get(timer.id)
    assert got.status == "failed" and "HTTP 401" in (got.last_error or ""), got
    assert demo_receiver.STATE.arrivals == []


def test_list_pages_newest_first_and_filters(courier: tuple[TestClient, str]) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    ids = [_submit(client, {"files_to_process": [file_id]})["job_id"] for _ in range(3)]
    client.post(f"/jobs/{ids[0]}/cancel")
    first = client.get("/jobs", params={"limit": 2}).json()
    second = client.get("/jobs", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [j["job_id"] for j in first["jobs"] + second["jobs"]] == ids[::-1] and second["next_cursor"] is None
    queued = client.get("/jobs", params={"status": "queued"}).json()["jobs"]
    assert {j["job_id"] for j in queued} == set(ids[1:])
    assert client.get("/jobs", params={"since": "2999-01-01T00:00:00Z"}).json()["jobs"] == []
    bad = client.get("/jobs", params={"cursor": "not-ours"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]


# ------------------------------------------------------------------ POST /courier/jobs/batch


def _count_jobs(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM courier_jobs").fetchone()
    assert row is not None
    return int(row[0])


def test_a_batch_is_stored_in_order_and_claimed_in_that_order(courier: tuple[TestClient, str]) -> None:
    client, _ = courier
    pushed = _push(client, b"x\n")
    jobs = [
        {"files_to_process": [pushed["file_id"]], "params": {"n": 0}},
        {"files_to_process": [pushed["path"]], "params": {"n": 1}},  # a path under the storage base
        {"files_to_process": [pushed["file_id"], pushed["path"]], "idempotency_key": "b-2"},
    ]
    answer = client.post("/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["created"] == [True, True, True] and [j["status"] for j in body["jobs"]] == ["queued"] * 3
    relative = body["jobs"][0]["files_to_process"][0]
    assert [j["files_to_process"] for j in body["jobs"]] == [[relative], [relative], [relative, relative]]
    assert [j["params"] for j in body["jobs"]] == [{"n": 0}, {"n": 1}, {}]
    ids = [j["job_id"] for j in body["jobs"]]
    assert [w.job_id for w in JobStore().claim("batch-run", 10, 900)] == ids
    assert client.get(f"/jobs/{ids[2]}").json()["idempotency_key"] == "b-2"


def test_a_batch_of_1000_is_one_request(courier: tuple[TestClient, str], courier_db: str) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    jobs = [{"files_to_process": [file_id], "params": {"n": i}, "idempotency_key": f"k{i}"} for i in range(1000)]
    answer = client.post("/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 202, answer.text
    assert [j["params"]["n"] for j in answer.json()["jobs"]] == list(range(1000))
    assert _count_jobs(courier_db) == 1000
    too_many = client.post("/jobs/batch", json={"jobs": jobs + jobs[:1]})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["body", "jobs"]
    assert client.post("/jobs/batch", json={"jobs": []}).status_code == 422
    assert _count_jobs(courier_db) == 1000


@pytest.mark.parametrize(
    ("bad", "loc"),
    [
        ({"files_to_process": ["file_" + "0" * 32]}, ["body", "jobs", 1, "files_to_process", 0]),
        ({"files_to_process": ["ok", "../secret.txt"]}, ["body", "jobs", 1, "files_to_process", 1]),
        ({"files_to_process": []}, ["body", "jobs", 1, "files_to_process"]),
        ({"files_to_process": ["x"], "params": {"big": "x" * 70_000}}, ["body", "jobs", 1, "params"]),
        ({"files_to_process": ["x"], "callback_url": "http://127.0.0.1/hook"}, ["body", "jobs", 1, "callback_url"]),
        ({"files_to_process": ["x"], "surprise": 1}, ["body", "jobs", 1, "surprise"]),
    ],
    ids=["unknown-file", "outside-base", "no-files", "params-too-big", "private-callback", "unknown-field"],
)
def test_one_bad_job_makes_the_batch_422_naming_its_index_and_stores_nothing(
    courier: tuple[TestClient, str],
    courier_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bad: dict[str, Any],
    loc: list[object],
) -> None:
    client, _ = courier
    monkeypatch.setenv("AIRFLOW__COURIER__WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    (tmp_path / "store").mkdir(exist_ok=True)
    for name in ("ok", "x"):  # paths under the storage base that exist
        (tmp_path / "store" / name).write_text("x\n")
    good = {"files_to_process": [_push(client, b"x\n")["file_id"]], "idempotency_key": "fine"}
    answer = client.post("/jobs/batch", json={"jobs": [good, bad, good | {"idempotency_key": "fine-2"}]})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert [d["loc"] for d in detail] == [loc], detail
    assert _count_jobs(courier_db) == 0


def test_every_bad_job_of_a_batch_is_named(courier: tuple[TestClient, str], courier_db: str) -> None:
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    jobs = [{"files_to_process": [file_id]}, {"files_to_process": ["file_" + "1" * 32]}, {"files_to_process": ["../a"]}]
    detail = client.post("/jobs/batch", json={"jobs": jobs}).json()["detail"]
    assert [d["loc"] for d in detail] == [
        ["body", "jobs", 1, "files_to_process", 0],
        ["body", "jobs", 2, "files_to_process", 0],
    ]
    assert "no pushed file" in detail[0]["msg"] and _count_jobs(courier_db) == 0


def test_batch_idempotency_is_per_job(courier: tuple[TestClient, str], courier_db: str) -> None:
    """A used key with the same job gives back that job unchanged (as POST /courier/jobs does), a new key a new
    job; a batch that is all repeats is a 200 with nothing new; a used key with another body is a 409 naming it,
    nothing stored; a key twice in one batch is a 422 on the repeat."""
    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    first = _submit(client, {"files_to_process": [file_id], "params": {"v": 1}, "idempotency_key": "order-1"})
    jobs = [
        {"files_to_process": [file_id], "params": {"v": 1}, "idempotency_key": "order-1"},  # the same job again
        {"files_to_process": [file_id], "idempotency_key": "order-2"},
        {"files_to_process": [file_id]},
    ]
    other = client.post("/jobs/batch", json={"jobs": [jobs[1], {**jobs[0], "params": {"v": 2}}]})
    assert other.status_code == 409, other.text
    assert [e["loc"] for e in other.json()["detail"]] == [["body", "jobs", 1, "idempotency_key"]]
    assert _count_jobs(courier_db) == 1  # not even the batch's new job
    answer = client.post("/jobs/batch", json={"jobs": jobs})
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["created"] == [False, True, True]
    assert body["jobs"][0]["job_id"] == first["job_id"] and body["jobs"][0]["params"] == {"v": 1}
    again = client.post("/jobs/batch", json={"jobs": jobs[:2]})
    assert again.status_code == 200 and again.json()["created"] == [False, False]
    assert [j["job_id"] for j in again.json()["jobs"]] == [j["job_id"] for j in body["jobs"][:2]]
    single = client.post("/jobs", json=jobs[1])
    assert single.status_code == 200 and single.json()["job_id"] == body["jobs"][1]["job_id"]
    assert _count_jobs(courier_db) == 3
    twice = client.post("/jobs/batch", json={"jobs": [jobs[2] | {"idempotency_key": "k"}] * 2})
    assert twice.status_code == 422
    (error,) = twice.json()["detail"]
    assert error["loc"] == ["body", "jobs", 1, "idempotency_key"] and "jobs/0" in error["msg"]
    assert _count_jobs(courier_db) == 3


def test_a_run_that_claimed_a_full_load_starts_the_next_one_while_jobs_wait(courier_db: str) -> None:
    """Regression: 10,000 jobs submitted in a few seconds started a few runs of 1000, and the rest waited for
    the 15-minute sweep (the 10 k drain was not linear). A full run now triggers its successor."""
    from airflow.providers.common.compat.sdk import DagRunTriggerException
    from airflow.sdk.exceptions import AirflowSkipException

    from courier.jobs.operators import MAX_PER_RUN, NextRunOperator, claim_batches, more_to_claim
    from courier.jobs.store import NewJob, new_id

    store = JobStore()
    store.create_many([NewJob(new_id(), ["jobs/files/a.csv"], {}, None, None) for _ in range(MAX_PER_RUN + 5)])
    full = claim_batches("run-1")
    assert sum(len(b["job_ids"]) for b in full) == MAX_PER_RUN and more_to_claim(full)
    with pytest.raises(DagRunTriggerException) as started:
        NextRunOperator(task_id="next_run", batches=full).execute({})  # type: ignore[arg-type]
    assert started.value.trigger_dag_id == "delayed_request"
    rest = claim_batches("run-2")
    assert sum(len(b["job_ids"]) for b in rest) == 5 and not more_to_claim(rest)
    for batches in (rest, full):  # a run that did not fill up; a full one with nothing left queued
        with pytest.raises(AirflowSkipException):
            NextRunOperator(task_id="next_run", batches=batches).execute({})  # type: ignore[arg-type]


def test_a_runs_jobs_are_found_by_index_with_100k_jobs(courier_db: str) -> None:
    """Regression: the trigger's poll (``JobStore.owned``) read every processing job of every run and filtered
    by owner, a cost growing with the square of the jobs in flight. At 100 k jobs (10 k processing, 10 runs) its
    plan must use the owner index, not a filter over the processing rows."""
    import json

    from courier.jobs.store.base import WORK_COLUMNS

    with psycopg.connect(courier_db) as conn:
        conn.execute(
            "INSERT INTO courier_jobs (job_id, files_to_process, status, claim_token, deadline_at) "
            "SELECT 'job_' || n, '[]', CASE WHEN n % 10 = 0 THEN 'processing' ELSE 'success' END, "
            "CASE WHEN n % 10 = 0 THEN 'run-' || (n % 100) END, now() FROM generate_series(1, 100000) n"
        )
        conn.execute("ANALYZE courier_jobs")
        batch = [f"job_{n}" for n in range(30, 30 + 250 * 100, 100)]
        for sql, args in [
            ("AND job_id = ANY(%s)", ["run-30", batch]),  # the trigger's poll
            ("", ["run-30"]),  # a retried claim taking back what its run holds
        ]:
            row = conn.execute(
                f"EXPLAIN (FORMAT JSON) SELECT {WORK_COLUMNS} FROM courier_jobs "
                f"WHERE status = 'processing' AND claim_token = %s {sql} ORDER BY seq",
                args,
            ).fetchone()
            assert row is not None
            plan = json.dumps(row[0])
            assert '"Index Name": "courier_jobs_owned"' in plan, plan


def test_the_trigger_event_carries_what_the_resumed_task_acts_on(
    courier: tuple[TestClient, str], processor: str, tmp_path: Path
) -> None:
    """The trigger only reads; its event (through JSON) carries each job's outcome — upstream id, result
    URL, error — and the resumed task stores, retries and fails from it alone: the processor's status
    answers are turned back to "running" before the resume, and the task still ends every job right."""
    from airflow.sdk.exceptions import TaskDeferred

    from courier.demo import processor as demo_processor
    from courier.jobs.operators import ProcessJobsOperator

    client, _ = courier
    file_id = _push(client, b"x\n")["file_id"]
    good = _submit(client, {"files_to_process": [file_id], "params": {"key": "good"}})
    bad = _submit(client, {"files_to_process": [file_id], "params": {"key": "bad", "fail_times": 2}})
    ids = [w.job_id for w in JobStore().claim("run-1", 10, 900)]
    task = ProcessJobsOperator(task_id="process", job_ids=ids, poll_interval=0.1, hold=5)
    with pytest.raises(TaskDeferred) as deferred:
        task.execute({"run_id": "run-1"})
    store = tmp_path / "store"
    stored_before = sorted(p for p in store.rglob("*") if p.is_file())
    event = asyncio.run(first_event(rebuilt(deferred.value.trigger), 30)).payload
    assert sorted(p for p in store.rglob("*") if p.is_file()) == stored_before  # the trigger stored nothing
    event = json.loads(json.dumps(event))
    outcomes = {o["job_id"]: o for o in event["outcomes"]}
    ok, failed = outcomes[good["job_id"]], outcomes[bad["job_id"]]
    assert (
        ok["state"] == "ready" and ok["result_url"] and ok["upstream_id"] == JobStore().get(good["job_id"]).upstream_id
    )
    assert failed["state"] == "failed" and failed["error"] and event["waiting"] == []
    assert event["owner"] == "run-1" and event["stats"] == {"submitted": 2}
    for job in demo_processor.STATE.jobs.values():
        job.status = "running"  # a resume that asked the processor again would see nothing to act on
    with pytest.raises(TaskDeferred) as again:  # the failed job is retried: submitted again, waited for
        task.execute_complete({"run_id": "run-1"}, event)
    done = JobStore().get(good["job_id"])
    assert done.status == "success" and done.report_file_path == f"jobs/{good['job_id']}/report.csv"
    assert (store / done.report_file_path).read_bytes() == httpx.get(f"{processor}{ok['result_url']}").content
    retried = JobStore().get(bad["job_id"])
    assert retried.status == "processing" and retried.retries == 1 and retried.upstream_id != failed["upstream_id"]
    assert [j["job_id"] for j in again.value.trigger.jobs] == [bad["job_id"]]
    last = asyncio.run(first_event(rebuilt(again.value.trigger), 30)).payload
    assert task.execute_complete({"run_id": "run-1"}, last) == {"submitted": 3, "success": 1, "retried": 1, "failed": 1}
    final = JobStore().get(bad["job_id"])
    assert final.status == "failed" and [
        a["outcome"] for a in client.get(f"/jobs/{bad['job_id']}").json()["attempts"]
    ] == [
        "failed",
        "failed",
    ]
