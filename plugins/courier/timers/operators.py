"""Operators of the timers domain: run the dispatcher, and schedule a webhook from a DAG."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from courier.config import CourierConfigError
from courier.links import TimerLink
from courier.timers.trigger import TimerDeliveredTrigger, TimerDispatchTrigger


class TimerNotDelivered(RuntimeError):
    """A timer a task waited for ended without being delivered, or the dispatcher could not run."""


class TimerDispatcherOperator(BaseOperator):
    """Hand the timer dispatcher loop to the triggerer and stay deferred while it runs.

    Fails at once, with the reason, when ``[courier]`` is not usable for timers (no ``webhook_secret``).

    :param overrides: dispatcher pacing settings to change (see ``DispatcherSettings``).
    :param slot: which dispatcher this is (1, 2, ...): its trigger goes to the ``slot``-th of
        ``[courier] timer_trigger_queues`` when that is set, so several dispatchers run on different triggerers.
    """

    def __init__(self, *, overrides: dict[str, Any] | None = None, slot: int = 1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.overrides = overrides or {}
        self.slot = slot

    def execute(self, context: Context) -> None:
        from courier.config import load
        from courier.timers.settings import DispatcherSettings

        try:
            DispatcherSettings.from_config(**self.overrides)
            queues = load().timer_trigger_queues
        except CourierConfigError as exc:  # a retry cannot fix configuration: fail now, naming the setting
            raise AirflowFailException(str(exc)) from exc
        if queues:
            # With [triggerer] queues_enabled the trigger takes the task's queue at defer time; the task
            # itself already runs, so only the trigger is routed (to the triggerer consuming this queue).
            self.queue = queues[(self.slot - 1) % len(queues)]
            self.log.info("Timer dispatcher %d goes to trigger queue %s", self.slot, self.queue)
        self.defer(trigger=TimerDispatchTrigger(self.overrides), method_name="execute_complete")

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("reason") == "config":
            raise AirflowFailException(f"timer dispatcher could not start: {event.get('message')}")
        if event.get("status") != "success":
            raise TimerNotDelivered(f"timer dispatcher could not start: {event.get('message')}")
        self.log.info("Timer dispatcher stopped: %s", event.get("stats"))
        return dict(event.get("stats") or {})


def longest_open(fire_at: datetime, expire_after: float | None, now: datetime | None = None) -> timedelta:
    """How long a timer firing at ``fire_at`` can stay open: until it fires, then ``expire_after`` or every
    attempt of ``[courier] webhook_retry_schedule`` (each at most ``webhook_timeout``), plus 10 minutes."""
    from courier.config import load

    cfg = load()
    after = expire_after if expire_after is not None else sum(cfg.webhook_retry_schedule)
    attempts = len(cfg.webhook_retry_schedule) + 1
    until = max((fire_at - (now or datetime.now(UTC))).total_seconds(), 0.0)
    return timedelta(seconds=until + after + attempts * cfg.webhook_timeout + 600)


class ScheduleWebhookOperator(BaseOperator):
    """Schedule a webhook timer (the same checks as ``POST /courier/timers``) and optionally wait for it.

    A retry of the task returns the timer its first try created (the idempotency key defaults to the task
    instance), so a retry never schedules a second webhook.

    :param url: target; Courier POSTs to ``url + timer id``.
    :param delay_seconds: fire this many seconds after the task runs; or
    :param fire_at: an aware datetime or RFC 3339 string to fire at.
    :param payload: JSON value delivered as ``payload``.
    :param headers: extra request headers.
    :param idempotency_key: default ``<dag_id>/<run_id>/<task_id>/<map_index>``.
    :param expire_after_seconds: give up if not delivered this long after the fire time.
    :param wait_for_delivery: stay deferred until the timer is final; fail unless it was delivered.
    :param poll_interval: seconds between status reads while waiting.
    :param wait_timeout: how long to wait for delivery before the task fails; by default the time until the
        timer fires plus ``expire_after_seconds`` or, without it, the whole ``[courier] webhook_retry_schedule``
        (each attempt at ``webhook_timeout``), plus 10 minutes — the longest a timer can stay open.
    """

    template_fields: Sequence[str] = ("url", "payload", "headers", "idempotency_key", "fire_at")
    ui_color = "#e8f4fd"
    operator_extra_links = (TimerLink(),)

    def __init__(
        self,
        *,
        url: str,
        delay_seconds: float | None = None,
        fire_at: datetime | str | None = None,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        idempotency_key: str | None = None,
        expire_after_seconds: float | None = None,
        wait_for_delivery: bool = False,
        poll_interval: float = 1.0,
        wait_timeout: timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.delay_seconds = delay_seconds
        self.fire_at = fire_at
        self.payload = payload
        self.headers = headers or {}
        self.idempotency_key = idempotency_key
        self.expire_after_seconds = expire_after_seconds
        self.wait_for_delivery = wait_for_delivery
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout

    def execute(self, context: Context) -> dict[str, Any] | None:
        from courier.config import load
        from courier.timers.models import TimerIn, new_timer
        from courier.timers.store import TimerStore

        ti = context["ti"]
        key = (
            self.idempotency_key
            or f"{ti.dag_id}/{ti.run_id}/{ti.task_id}/{ti.map_index if ti.map_index is not None else -1}"
        )
        fields = {
            "url": self.url,
            "delay_seconds": self.delay_seconds,
            "fire_at": self.fire_at,
            "payload": self.payload,
            "headers": self.headers,
            "idempotency_key": key,
            "expire_after_seconds": self.expire_after_seconds,
        }
        # the one of delay_seconds / fire_at not given is left out, as the API's schema asks
        request = TimerIn.model_validate({k: v for k, v in fields.items() if v is not None or k == "payload"})
        cfg = load()
        new = new_timer(
            request,
            datetime.now(UTC),
            cfg.timer_horizon,
            cfg.webhook_allow_private_targets,
            allowed_hosts=cfg.webhook_allowed_hosts,
        )
        ((timer, created),) = TimerStore().create([new], created_by=f"dag:{ti.dag_id}")
        self.log.info(
            "%s timer %s for %s at %s", "Scheduled" if created else "Reusing", timer.id, timer.url, timer.fire_at
        )
        TimerLink.persist(context, timer.id)
        result = timer.model_dump(mode="json", exclude={"payload", "attempt_log"})
        if not self.wait_for_delivery:
            return result
        self.defer(
            trigger=TimerDeliveredTrigger(timer.id, self.poll_interval),
            method_name="execute_complete",
            timeout=self.wait_timeout or longest_open(timer.fire_at, self.expire_after_seconds),
        )
        return None

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from courier.timers.store import TimerStore

        if event.get("status") != "success":
            raise TimerNotDelivered(
                f"timer {event.get('timer_id')} ended {event.get('reason')}: {event.get('message')}"
            )
        return TimerStore().get(event["timer_id"]).model_dump(mode="json", exclude={"payload", "attempt_log"})
