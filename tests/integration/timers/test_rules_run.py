"""Timers' rules module is what runs (``timers/rules.py``): the store's SQL takes the rule at each call, so changing a rule
(within what the schema allows) changes what the database does, not only a unit test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from courier.timers import rules as timer_rules
from courier.timers.models import NewTimer
from courier.timers.models import new_id as new_timer_id
from courier.timers.rules import Status as TimerStatus
from courier.timers.store import TimerNotCancellable, TimerStore
from courier.timers.store import dispatch as timers

pytestmark = pytest.mark.timeout(120)


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
