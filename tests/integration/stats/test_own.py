"""Courier's own work as stats, on real parts: a fan-out's pages and a job's final status land in the raw
stats table with their tags and values (PostgreSQL, the demo paged API and the demo processor on loopback)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from courier.jobs.store import JobStore, NewJob, new_id
from courier.pages.batch import run_batch
from courier.pages.fanout import FanoutFailed, FanoutRequest, list_and_plan, merge

DAG_ID = "paginated_fanout"


@pytest.fixture
def paged_api_per_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The demo paged API, a server of its own for the test, with ``paged_api_default`` pointing at it."""
    from courier.demo import paged_api as demo_pages
    from courier.demo.app import create_app
    from courier.demo.server import serve_in_thread

    demo_pages.reset()
    with serve_in_thread(create_app(["courier.demo.paged_api"])) as url:
        monkeypatch.setenv("AIRFLOW_CONN_PAGED_API_DEFAULT", url)
        yield url


@pytest.fixture
def quick_processor(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The demo processor (0.05 s a step) with ``jobs_api_default`` pointing at it."""
    from courier.demo import processor as demo_processor
    from courier.demo.app import create_app
    from courier.demo.server import serve_in_thread

    demo_processor.reset()
    demo_processor.STATE.config.delay = 0.05
    with serve_in_thread(create_app(["courier.demo.processor"])) as url:
        monkeypatch.setenv("AIRFLOW_CONN_JOBS_API_DEFAULT", url)
        yield url
    demo_processor.reset()


def _events(db: str, prefix: str) -> list[tuple[str, dict[str, str], str, float]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT name, tags, type, value FROM courier_stat_events WHERE name LIKE %s ORDER BY seq, pos",
            (prefix + "%",),
        ).fetchall()
    return [(r[0], dict(r[1]), r[2], float(r[3])) for r in rows]


def _fanout(params: dict[str, Any], run_id: str) -> FanoutRequest:
    request = FanoutRequest.from_params(params)
    for batch in list_and_plan(request, DAG_ID, run_id):
        run_batch(batch["batch_path"], batch["out_path"])
    return request


def test_a_fanout_records_pages_fetched_pages_per_second_and_failures(
    paged_api_per_test: str, courier_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())  # a run's base lies under it
    params = {"query": {"pages": 30, "rows": 2, "latency_ms": 5}, "batch_size": 10, "storage_base": tmp_path.as_uri()}
    assert merge(_fanout(params, "run-ok"), DAG_ID, "run-ok")["pages"] == 30

    broken = {**params, "query": {"pages": 12, "rows": 1, "latency_ms": 0, "broken": "4,9"}, "page_attempts": 1}
    with pytest.raises(FanoutFailed):
        merge(_fanout(broken, "run-broken"), DAG_ID, "run-broken")

    events = _events(courier_db, "courier.pages.")
    ok = {"dag_id": DAG_ID, "status": "success"}
    failed = {"dag_id": DAG_ID, "status": "failed"}
    by_key = {(name, tags["status"]): (kind, value) for name, tags, kind, value in events}
    assert len(events) == len(by_key) == 8 and {tuple(sorted(t.items())) for _, t, _, _ in events} == {
        tuple(sorted(ok.items())),
        tuple(sorted(failed.items())),
    }
    assert by_key["courier.pages.fetched", "success"] == ("counter", 30)
    assert by_key["courier.pages.failed", "success"] == ("counter", 0)
    assert by_key["courier.pages.fetched", "failed"] == ("counter", 10)
    assert by_key["courier.pages.failed", "failed"] == ("counter", 2)
    timings = json.loads((tmp_path / "pages" / DAG_ID / "run-ok" / "manifest.json").read_text())["timings"]
    kind, rate = by_key["courier.pages.per_second", "success"]
    assert kind == "gauge" and rate == pytest.approx(30 / timings["fetch_wall_seconds"])
    assert by_key["courier.pages.fanout_seconds", "success"] == ("timer", pytest.approx(timings["total_seconds"]))


def test_a_fanout_succeeds_when_its_stats_cannot_be_written(
    paged_api_per_test: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURIER_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    monkeypatch.setenv("AIRFLOW__COURIER__STORAGE_BASE", tmp_path.as_uri())
    params = {"query": {"pages": 3, "rows": 1, "latency_ms": 0}, "storage_base": tmp_path.as_uri()}
    assert merge(_fanout(params, "run-nodb"), DAG_ID, "run-nodb")["pages"] == 3


def _drive(owner: str, job_ids: list[str]) -> None:
    """Run the jobs' real stepper (as the task and the trigger do) until none of ``job_ids`` is open."""
    from courier.jobs.processor_client import Stepper, client

    store = JobStore()
    store.claim(owner, len(job_ids), 900)

    async def go() -> None:
        async with client() as http:
            stepper = Stepper(store, owner, http, 900, lambda work: [])
            deadline = time.monotonic() + 60
            while works := await asyncio.to_thread(store.owned, owner, job_ids):
                assert time.monotonic() < deadline, works
                await stepper.advance_all(works)
                await asyncio.sleep(0.05)

    asyncio.run(go())


def test_jobs_record_duration_and_outcome_once_per_final_status(quick_processor: str, courier_db: str) -> None:
    from courier.api.auth import Caller
    from courier.jobs.api import cancel_job
    from courier.jobs.operators import sweep_jobs

    store = JobStore()
    ok, bad, cancelled, swept = (
        store.create(NewJob(new_id(), [], params, None, None))[0].job_id
        for params in ({"key": "ok"}, {"key": "bad", "fail": True}, {"key": "c"}, {"key": "s"})
    )
    assert cancel_job(cancelled, Caller("user:admin", full_access=True)).status == "cancelled"
    _drive("run-1", [ok, bad])  # bad fails, is retried once in place, fails for good
    store.claim("dead-run", 1, 900)
    with psycopg.connect(courier_db, autocommit=True) as conn:  # the owner died after its retry
        conn.execute("UPDATE courier_jobs SET deadline_at = now() - interval '1 hour', retries = 1 WHERE job_id = %s",
                     (swept,))  # fmt: skip
    sweep_jobs(60.0)

    with psycopg.connect(courier_db) as conn:
        durations = dict(
            conn.execute(  # type: ignore[arg-type]
                "SELECT job_id, extract(epoch FROM finished_at - created_at)::float8 FROM courier_jobs"
            ).fetchall()
        )
    events = _events(courier_db, "courier.jobs.")
    finished = sorted((t["outcome"], v) for n, t, k, v in events if n == "courier.jobs.finished" and k == "counter")
    assert finished == [("cancelled", 1), ("failed", 1), ("failed", 1), ("success", 1)]  # a retry is not final
    took = sorted((t["outcome"], v) for n, t, k, v in events if n == "courier.jobs.duration_seconds" and k == "timer")
    assert took == sorted(
        [
            ("cancelled", pytest.approx(durations[cancelled])),
            ("failed", pytest.approx(durations[bad])),
            ("failed", pytest.approx(durations[swept])),
            ("success", pytest.approx(durations[ok])),
        ],
        key=lambda pair: (pair[0], pair[1].expected),  # type: ignore[attr-defined]
    )
    assert len(events) == 8 and all(set(t) == {"outcome"} for _, t, _, _ in events)
