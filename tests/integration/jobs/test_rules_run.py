"""Jobs' rules module is what runs (``jobs/rules.py``): the store's SQL takes the rule at each call, so changing a rule
(within what the schema allows) changes what the database does, not only a unit test."""

from __future__ import annotations

import psycopg
import pytest

from courier.jobs import rules as job_rules
from courier.jobs.models import NewJob, new_id
from courier.jobs.rules import Status as JobStatus
from courier.jobs.store import JobStore

pytestmark = pytest.mark.timeout(120)


def _processing_jobs(store: JobStore, owner: str, count: int) -> list[str]:
    ids = [store.create(NewJob(new_id(), ["in/a.csv"], {}, None, None))[0].job_id for _ in range(count)]
    assert sorted(w.job_id for w in store.claim(owner, count, 900)) == sorted(ids)
    return ids


@pytest.mark.parametrize(("max_retries", "after_failure"), [(1, JobStatus.PROCESSING), (0, JobStatus.FAILED)])
def test_the_retry_limit_of_the_rules_decides_a_failed_attempt(
    courier_db: str, monkeypatch: pytest.MonkeyPatch, max_retries: int, after_failure: JobStatus
) -> None:
    monkeypatch.setattr(job_rules, "MAX_RETRIES", max_retries)
    store = JobStore(courier_db)
    (job_id,) = _processing_jobs(store, "run-1", 1)
    moved = store.attempt_failed(job_id, "run-1", "HTTP 500", timeout=900)
    assert moved.status == after_failure
    job = store.get(job_id)
    assert (job.status, job.retries) == (after_failure, max_retries)


@pytest.mark.parametrize(("max_retries", "swept_to"), [(1, JobStatus.QUEUED), (0, JobStatus.FAILED)])
def test_the_retry_limit_of_the_rules_decides_what_the_sweep_does(
    courier_db: str, monkeypatch: pytest.MonkeyPatch, max_retries: int, swept_to: JobStatus
) -> None:
    monkeypatch.setattr(job_rules, "MAX_RETRIES", max_retries)
    store = JobStore(courier_db)
    ids = _processing_jobs(store, "dead-run", 3)
    with psycopg.connect(courier_db, autocommit=True) as conn:  # the owner died long ago
        conn.execute("UPDATE courier_jobs SET deadline_at = now() - interval '1 hour'")
    assert {m.job_id: m.status for m in store.sweep(60.0)} == dict.fromkeys(ids, swept_to)


def test_the_cancellable_statuses_come_from_the_transitions(courier_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = JobStore(courier_db)
    queued = store.create(NewJob(new_id(), ["in/a.csv"], {}, None, None))[0].job_id
    strict = {**job_rules.TRANSITIONS, JobStatus.QUEUED: frozenset({JobStatus.PROCESSING})}
    monkeypatch.setattr(job_rules, "TRANSITIONS", strict)
    assert not job_rules.allowed(JobStatus.QUEUED, JobStatus.CANCELLED)
    with pytest.raises(Exception, match="only queued or processing"):
        store.cancel(queued)
    monkeypatch.undo()
    assert store.cancel(queued)[0].status == JobStatus.CANCELLED
