"""ScheduleWebhookOperator and TimerDeliveredTrigger on a real database, fired by a real dispatcher."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from courier.demo import receiver as demo_receiver
from courier.links import TimerLink
from courier.timers.dispatcher import Dispatcher, DispatcherSettings
from courier.timers.operators import ScheduleWebhookOperator, TimerDispatcherOperator, TimerNotDelivered
from courier.timers.store import TimerStore
from courier.timers.trigger import TimerDeliveredTrigger, TimerDispatchTrigger
from tests.helpers import first_event_while_dispatching


def _context(try_number: int = 1) -> Any:
    """A task instance as far as the operator uses one: its key, and the XComs it pushes (the timer link)."""
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="orders",
        run_id="manual__1",
        task_id="remind",
        map_index=-1,
        try_number=try_number,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    return {"ti": ti}


def test_a_retry_reuses_the_timer_of_the_first_try(courier_db: str, receiver: str) -> None:
    operator = ScheduleWebhookOperator(task_id="remind", url=receiver + "/hooks/", delay_seconds=300, payload={"a": 1})
    first_context, again_context = _context(1), _context(2)
    first = operator.execute(first_context)
    again = operator.execute(again_context)
    assert first is not None and again is not None
    assert first["id"] == again["id"] and first["status"] == "scheduled"
    # the task's "Courier timer" link opens that timer, on both tries
    assert first_context["ti"].pushed == again_context["ti"].pushed == {TimerLink.record_key: first["id"]}
    assert first["idempotency_key"] == "orders/manual__1/remind/-1"
    assert len(TimerStore(courier_db).list(None, 10, None)[0]) == 1


def test_bad_arguments_fail_the_task_before_storing(courier_db: str, receiver: str) -> None:
    with pytest.raises(ValueError, match="delay_seconds"):
        ScheduleWebhookOperator(task_id="t", url=receiver + "/hooks/", delay_seconds=-1).execute(_context())
    assert TimerStore(courier_db).list(None, 10, None)[0] == []


async def test_wait_for_delivery_defers_until_delivered(courier_db: str, receiver: str, webhook_secret: str) -> None:
    operator = ScheduleWebhookOperator(
        task_id="remind", url=receiver + "/hooks/", delay_seconds=0.5, wait_for_delivery=True, poll_interval=0.2
    )
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(operator.execute, _context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, TimerDeliveredTrigger)
    event = await first_event_while_dispatching(trigger, courier_db, webhook_secret)
    assert event.payload == {"status": "success", "timer_id": trigger.timer_id, "timer_status": "delivered"}
    result = await asyncio.to_thread(operator.execute_complete, _context(), event.payload)
    assert result["status"] == "delivered" and result["lateness_ms"] >= 0
    assert [a["webhook_id"] for a in demo_receiver.STATE.arrivals] == [trigger.timer_id]
    with pytest.raises(TimerNotDelivered, match="failed: HTTP 410"):
        operator.execute_complete(
            _context(), {"timer_id": trigger.timer_id, "status": "error", "reason": "failed", "message": "HTTP 410"}
        )


async def test_a_dispatcher_without_webhook_secret_fails_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW__COURIER__WEBHOOK_SECRET", raising=False)
    operator = TimerDispatcherOperator(task_id="dispatch_1")
    with pytest.raises(AirflowFailException, match=r"\[courier\] webhook_secret"):  # no retry: the task fails
        operator.execute({})
    # the same in the triggerer (a secret removed after the task deferred): an error event naming the setting
    event = dict((await anext(TimerDispatchTrigger().run())).payload)
    assert (event["status"], event["reason"], event["setting"]) == ("error", "config", "webhook_secret")
    with pytest.raises(AirflowFailException, match=r"\[courier\] webhook_secret"):
        operator.execute_complete({}, event)


def test_the_dispatch_command_names_a_missing_webhook_secret(courier_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    monkeypatch.delenv("AIRFLOW__COURIER__WEBHOOK_SECRET", raising=False)
    done = subprocess.run([sys.executable, "-m", "courier.cli", "timers", "dispatch"], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "courier timers dispatch: [courier] webhook_secret" in done.stderr and "Traceback" not in done.stderr


def _backends(courier_db: str) -> int:
    """Connections to the test's Courier database other than the one asking (``pg_stat_activity``)."""
    import psycopg

    with psycopg.connect(courier_db, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert row is not None
    return int(row[0])


async def test_300_waiting_triggers_share_one_connection(courier_db: str, receiver: str, webhook_secret: str) -> None:
    """300 delivery waits in one event loop (one triggerer) hold one connection and poll together; each gets
    its own event when the dispatcher delivers its timer, and the connection is closed when none waits."""
    from courier.timers.models import NewTimer, new_id
    from courier.timers.watch import watch

    store = TimerStore(courier_db)
    later = [
        NewTimer(new_id(), receiver + "/hooks/", datetime.now(UTC) + timedelta(seconds=3), {"n": n}, {}, f"k{n}", None)
        for n in range(300)
    ]
    ids = [timer.id for timer, _ in store.create(later)]
    triggers = [TimerDeliveredTrigger(i, poll_interval=0.2) for i in ids]
    waits = [asyncio.ensure_future(anext(t.run())) for t in triggers]
    await asyncio.sleep(1.0)
    assert not any(w.done() for w in waits)
    assert await asyncio.to_thread(_backends, courier_db) == 1  # the watch's one connection
    assert watch().waiting == 300
    dispatcher = Dispatcher(courier_db, DispatcherSettings(secret=webhook_secret, allow_private=True))
    running = asyncio.create_task(dispatcher.run())
    try:
        events = await asyncio.wait_for(asyncio.gather(*waits), 30)
    finally:
        dispatcher.stop()
        await running
    assert [e.payload for e in events] == [
        {"status": "success", "timer_id": i, "timer_status": "delivered"} for i in ids
    ]
    assert watch().waiting == 0 and watch().connections == 1
    await asyncio.sleep(0.5)
    assert await asyncio.to_thread(_backends, courier_db) == 0  # nothing waits: no connection held


async def test_a_wait_for_a_missing_timer_ends_and_every_wait_has_a_timeout(courier_db: str, receiver: str) -> None:
    event = await asyncio.wait_for(anext(TimerDeliveredTrigger("tmr_missing", 0.1).run()), 10)
    assert event.payload == {
        "timer_id": "tmr_missing",
        "status": "error",
        "reason": "missing",
        "message": "no such timer",
    }
    operator = ScheduleWebhookOperator(
        task_id="remind", url=receiver + "/hooks/", delay_seconds=60, wait_for_delivery=True
    )
    with pytest.raises(TaskDeferred) as deferred:
        await asyncio.to_thread(operator.execute, _context())
    timeout = deferred.value.timeout
    assert timeout is not None
    # until it fires (60 s), the whole retry schedule, an attempt's timeout each, and 10 minutes
    from courier.config import load

    cfg = load()
    expected = 60 + sum(cfg.webhook_retry_schedule) + (len(cfg.webhook_retry_schedule) + 1) * cfg.webhook_timeout + 600
    assert abs(timeout.total_seconds() - expected) < 5
