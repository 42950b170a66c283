"""The domains' rules modules are what runs: the stores' SQL takes the rule at each call, so changing a rule
(within what the schema allows) changes what the database does, not only a unit test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from courier.jobs import rules as job_rules
from courier.jobs.models import NewJob, new_id
from courier.jobs.rules import Status as JobStatus
from courier.jobs.store import JobStore
from courier.timers import rules as timer_rules
from courier.timers import store as timers
from courier.timers.models import NewTimer
from courier.timers.models import new_id as new_timer_id
from courier.timers.rules import Status as TimerStatus
from courier.timers.store import TimerNotCancellable, TimerStore

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


def _due_timer(courier_db: str) -> str:
    timer = NewTimer(
        new_timer_id(), "http://127.0.0.1:9/hooks/", datetime.now(UTC) - timedelta(seconds=1), {}, {}, None, None
    )
    TimerStore(courier_db).create([timer])
    return timer.id


async def test_the_open_statuses_of_the_rules_decide_what_a_dispatcher_claims(
    courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    timer_id = _due_timer(courier_db)
    async with await psycopg.AsyncConnection.connect(courier_db, autocommit=True) as conn:
        monkeypatch.setattr(timer_rules, "OPEN", (TimerStatus.FIRING, TimerStatus.RETRYING))
        assert await timers.claim(conn, "d-1", horizon=5, limit=10, lease=10, grace=5) == []
        monkeypatch.undo()
        assert [c.id for c in await timers.claim(conn, "d-1", horizon=5, limit=10, lease=10, grace=5)] == [timer_id]


def test_the_cancellable_statuses_of_the_rules_decide_what_can_be_cancelled(
    courier_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TimerStore(courier_db)
    timer_id = _due_timer(courier_db)
    monkeypatch.setattr(timer_rules, "CANCELLABLE", (TimerStatus.RETRYING,))
    with pytest.raises(TimerNotCancellable):
        store.cancel(timer_id)
    monkeypatch.undo()
    assert store.cancel(timer_id).status == TimerStatus.CANCELLED


@pytest.mark.parametrize(("render", "index_used"), [("literals", True), ("bind parameter", False)])
def test_the_claim_keeps_the_partial_index_of_open_timers_in_a_generic_plan(
    courier_db: str, render: str, index_used: bool
) -> None:
    """The open statuses are written into the SQL as literals: a prepared statement's generic plan can still use
    ``courier_timers_due … WHERE status IN ('scheduled', 'firing', 'retrying')``; as a bind parameter it cannot
    (the reason the store does not pass them as one)."""
    with psycopg.connect(courier_db, autocommit=True) as conn:
        if render == "literals":
            text = timers._query(timers._CLAIM, open=timer_rules.OPEN).as_string(conn)
        else:
            text = timers._CLAIM.replace("status IN ({open})", "status = ANY(%(open)s)")
        order = ["horizon", "grace", "limit", "owner", "lease", "reclaims", "open"]
        text = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", text)
        conn.execute(f"PREPARE claim_q AS {text}")
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute("SET enable_seqscan = off")
        args = "5, 5, 10, 'd-1', 10, 2" + (", '{scheduled,firing,retrying}'" if render != "literals" else "")
        plan = "\n".join(r[0] for r in conn.execute(f"EXPLAIN EXECUTE claim_q({args})"))
    assert ("courier_timers_due" in plan) is index_used, plan
