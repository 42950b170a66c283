"""ScheduleWebhookOperator and TimerDeliveredTrigger on a real database, fired by a real dispatcher."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from courier.demo import receiver as demo_receiver
from courier.links import TimerLink
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
