"""The single submit's intake on real PostgreSQL: concurrent ``POST /courier/jobs`` are stored together (one
lookup, one insert per flush) and still each get their own answer."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from courier.jobs import intake
from courier.jobs.models import JobIn, JobOut
from courier.jobs.store import JobStore, NewJob
from courier.jobs.submit import BadJobs
from courier.wire import KeyReused, fingerprint
from tests.helpers import api_app


@pytest.fixture
def woken(monkeypatch: pytest.MonkeyPatch, courier_db: str) -> list[float | None]:
    """No Airflow scheduler here: record the wake-ups instead."""
    from courier.jobs import start

    calls: list[float | None] = []
    monkeypatch.setattr(start, "wake", lambda now=None: calls.append(now) or False)
    return calls


CREATOR = "user:tester"
"""The user of the intake's requests here (``api_app``'s ``tester`` with the user-level role)."""


def _file(courier_db: str, file_id: str = "file_" + "a" * 32) -> str:
    with psycopg.connect(courier_db) as conn:
        conn.execute(
            "INSERT INTO courier_job_files (file_id, path, bytes, sha256, created_by) VALUES (%s, %s, 1, 'x', %s)",
            (file_id, f"jobs/files/{file_id}/a.csv", CREATOR),
        )
    return file_id


def _flush_together(jobs: list[dict[str, Any]]) -> list[tuple[JobOut, bool] | BaseException]:
    """Hand ``jobs`` to one flush, as concurrent requests of one user waiting together would be; return each
    answer."""

    async def go() -> list[tuple[JobOut, bool] | BaseException]:
        loop = asyncio.get_running_loop()
        waiting = [intake._Waiting(JobIn.model_validate(j), CREATOR, CREATOR, loop, loop.create_future()) for j in jobs]
        await asyncio.to_thread(intake.flush, waiting)
        return list(await asyncio.gather(*(w.answer for w in waiting), return_exceptions=True))

    return asyncio.run(go())


def test_one_flush_answers_each_request_with_its_own_outcome(courier_db: str, woken: list[float | None]) -> None:
    file_id = _file(courier_db)
    used = {"files_to_process": [file_id], "params": {"v": 1}, "idempotency_key": "used-key"}
    kept_job = NewJob("job_kept", ["jobs/files/x"], {"v": 1}, "used-key", None, CREATOR, fingerprint(JobIn(**used)))
    ((kept, _),) = JobStore(courier_db).create_many([kept_job])
    answers = _flush_together(
        [
            {"files_to_process": [file_id], "params": {"n": 0}},
            {"files_to_process": ["file_" + "b" * 32]},  # no such pushed file
            used,  # the same request again: the job it made
            {**used, "params": {"v": 2}},  # the key with another body: a conflict (409)
            {"files_to_process": [file_id], "idempotency_key": "new-key"},
            {"files_to_process": [file_id], "idempotency_key": "new-key"},
            {"files_to_process": [file_id], "params": {"other": True}, "idempotency_key": "new-key"},
        ]
    )
    new, bad, repeat, reused, first, second, other = answers
    assert isinstance(new, tuple) and new[1] is True and new[0].files_to_process == [f"jobs/files/{file_id}/a.csv"]
    assert isinstance(bad, BadJobs) and bad.errors[0]["loc"] == ["body", "files_to_process", 0]
    assert isinstance(repeat, tuple) and repeat == (kept, False) and repeat[0].params == {"v": 1}
    assert isinstance(reused, KeyReused) and reused.keys == ["used-key"]
    assert isinstance(first, tuple) and isinstance(second, tuple)
    assert (first[1], second[1]) == (True, False) and first[0].job_id == second[0].job_id  # one key, one job
    assert isinstance(other, KeyReused) and other.keys == ["new-key"]
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (3,)
    assert len(woken) == 1  # one wake-up for the flush


def test_a_flush_that_fails_fails_each_of_its_requests_and_the_writer_goes_on(
    courier_db: str, woken: list[float | None], monkeypatch: pytest.MonkeyPatch
) -> None:
    file_id = _file(courier_db)
    monkeypatch.setenv("COURIER_DATABASE_URL", courier_db + "_gone")  # the pool follows it: nothing there
    answers = _flush_together([{"files_to_process": [file_id]}] * 2)
    assert all(isinstance(a, psycopg.OperationalError) for a in answers), answers
    monkeypatch.setenv("COURIER_DATABASE_URL", courier_db)
    assert all(isinstance(a, tuple) and a[1] for a in _flush_together([{"files_to_process": [file_id]}] * 2))


@pytest.fixture
def served(courier_db: str, woken: list[float | None]) -> Iterator[str]:
    from courier.demo.server import serve_in_thread

    host = FastAPI()
    host.mount("/courier", api_app("admin"))
    with serve_in_thread(host) as url:
        yield url


def test_concurrent_submits_over_http_are_each_stored_once(served: str, courier_db: str) -> None:
    file_id = _file(courier_db)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served, timeout=60) as client:
            bodies = [{"files_to_process": [file_id], "params": {"n": i}} for i in range(200)]
            bodies += [
                {"files_to_process": ["file_" + "c" * 32]},
                {"files_to_process": [file_id], "idempotency_key": "k"},
            ]
            bodies += [{"files_to_process": [file_id], "idempotency_key": "k"}]
            return list(await asyncio.gather(*(client.post("/courier/jobs", json=b) for b in bodies)))

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers[:200]] == [202] * 200
    assert answers[200].status_code == 422 and answers[200].json()["detail"][0]["loc"] == [
        "body",
        "files_to_process",
        0,
    ]
    assert sorted(a.status_code for a in answers[201:]) == [200, 202]
    assert answers[201].json()["job_id"] == answers[202].json()["job_id"]
    assert sorted(a.json()["params"]["n"] for a in answers[:200]) == list(range(200))
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT params) FROM courier_jobs").fetchone() == (201, 201)


# ---------------------------------------------------------------- M5: one bad submit never fails the others
NUL_BODIES = [
    ({"idempotency_key": "bad\u0000key"}, ["body", "idempotency_key"]),
    ({"params": {"note": "nul \u0000 here"}}, ["body", "params"]),
    ({"params": {"nul\u0000key": 1}}, ["body", "params"]),
    ({"params": {"deep": [{"x": ["\u0000"]}]}}, ["body", "params"]),
    ({"callback_url": "http://127.0.0.1:9/cb/\u0000"}, ["body", "callback_url"]),
]


def test_concurrent_submits_with_bad_ones_store_the_good_ones_and_refuse_only_the_bad(
    served: str, courier_db: str
) -> None:
    """The attack: a NUL in ``idempotency_key`` or ``\\u0000`` in ``params`` rides in one flush with other users'
    submits. Each bad one is a 422 naming its field; every good one is stored (202)."""
    file_id = _file(courier_db)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=served, timeout=60) as client:
            bodies = [{"files_to_process": [file_id], "params": {"n": i}} for i in range(100)]
            bodies += [{"files_to_process": [file_id], **bad} for bad, _ in NUL_BODIES]
            return list(await asyncio.gather(*(client.post("/courier/jobs", json=b) for b in bodies)))

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers[:100]] == [202] * 100, [a.text for a in answers[:100] if a.is_error][:3]
    for answer, (_, loc) in zip(answers[100:], NUL_BODIES, strict=True):
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"][: len(loc)] == loc, answer.json()
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (100,)


@pytest.mark.parametrize(("bad", "loc"), NUL_BODIES)
def test_a_batch_with_a_value_postgresql_refuses_is_a_422_naming_it(
    served: str, courier_db: str, bad: dict[str, Any], loc: list[str]
) -> None:
    file_id = _file(courier_db)
    answer = httpx.post(
        served + "/courier/jobs/batch",
        json={"jobs": [{"files_to_process": [file_id]}, {"files_to_process": [file_id], **bad}]},
        timeout=30,
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][: len(loc) + 2] == ["body", "jobs", 1, *loc[1:]], answer.json()
    with psycopg.connect(courier_db) as conn:
        assert conn.execute("SELECT count(*) FROM courier_jobs").fetchone() == (0,)


def test_a_flush_whose_statement_fails_stores_the_others_one_by_one(courier_db: str, woken: list[float | None]) -> None:
    """Defence in depth: a value that got past the models (here built without them) fails the shared insert;
    the flush then stores each job on its own, as its own creator's, so only that request fails."""
    file_id = _file(courier_db)

    async def go() -> list[tuple[JobOut, bool] | BaseException]:
        loop = asyncio.get_running_loop()
        jobs = [JobIn.model_validate({"files_to_process": [file_id], "params": {"n": i}}) for i in range(5)]
        jobs.insert(2, JobIn.model_construct(files_to_process=[file_id], params={"x": "\u0000"}, idempotency_key=None))
        creators = [f"user:u{i}" for i in range(len(jobs))]  # full access (scope None): the file is usable by all
        waiting = [
            intake._Waiting(job, by, None, loop, loop.create_future()) for job, by in zip(jobs, creators, strict=True)
        ]
        await asyncio.to_thread(intake.flush, waiting)
        return list(await asyncio.gather(*(w.answer for w in waiting), return_exceptions=True))

    answers = asyncio.run(go())
    assert isinstance(answers[2], psycopg.Error), answers[2]
    good = [a for i, a in enumerate(answers) if i != 2]
    assert all(isinstance(a, tuple) and a[1] for a in good), good
    assert sorted(a[0].params["n"] for a in good if isinstance(a, tuple)) == list(range(5))
    with psycopg.connect(courier_db) as conn:
        stored = conn.execute("SELECT (params->>'n')::int, created_by FROM courier_jobs ORDER BY 1").fetchall()
    # each job is its request's creator's (requests 0, 1, then 3.. after the bad one at 2)
    assert stored == [(n, f"user:u{n if n < 2 else n + 1}") for n in range(5)], stored
    assert woken  # the stored ones are announced
