"""Timer requests without I/O (``timers/models.py``): the fire instant, the fields named when refused, the URL checked being the URL called, reserved idempotency keys."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from courier.timers.models import MAX_PAYLOAD_BYTES, FieldError, TimerIn, new_timer

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- request checks
def _plan(body: dict[str, object], allow_private: bool = False) -> object:
    return new_timer(TimerIn.model_validate(body), NOW, 30 * 86400, allow_private, resolver=lambda h: ["93.184.216.34"])


def test_delay_and_fire_at_give_the_instant() -> None:
    by_delay = _plan({"url": "https://example.com/h/", "delay_seconds": 1.5, "expire_after_seconds": 60})
    assert by_delay.fire_at == NOW + timedelta(seconds=1.5)  # type: ignore[attr-defined]
    assert by_delay.expire_at == NOW + timedelta(seconds=61.5)  # type: ignore[attr-defined]
    at = _plan({"url": "https://example.com/h/", "fire_at": "2026-11-22T13:00:00+01:00"})
    assert at.fire_at == NOW  # type: ignore[attr-defined]


def _field_of(exc: ValidationError) -> set[str]:
    return {str(e["loc"][-1]) if e["loc"] else "" for e in exc.errors()}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://e.com/", "delay_seconds": -1}, "delay_seconds"),
        ({"url": "https://e.com/", "delay_seconds": math.inf}, "delay_seconds"),
        ({"url": "https://e.com/", "delay_seconds": math.nan}, "delay_seconds"),
        ({"url": "https://e.com/", "fire_at": "2026-11-22T12:00:00"}, "fire_at"),  # no offset
        ({"url": "https://e.com/", "delay_seconds": 1, "headers": {"Host": "x"}}, "headers"),
        ({"url": "https://e.com/", "delay_seconds": 1, "headers": {"webhook-signature": "x"}}, "headers"),
        ({"url": "https://e.com/", "delay_seconds": 1, "headers": {"X-A": "a\r\nB: c"}}, "headers"),
        ({"url": "https://e.com/", "delay_seconds": 1, "payload": "x" * MAX_PAYLOAD_BYTES}, "payload"),
        ({"url": "https://e.com/", "delay_seconds": 1, "expire_after_seconds": 0}, "expire_after_seconds"),
        ({"url": "https://e.com/", "delay_seconds": 1, "surprise": 1}, "surprise"),
        ({"url": "ftp://e.com/", "delay_seconds": 1}, "url"),  # the schema's pattern: http(s) only
        ({"url": "https://e.com/", "delay_seconds": None, "fire_at": "2026-11-22T12:00:00Z"}, "delay_seconds"),
    ],
)
def test_bad_fields_are_named(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        TimerIn.model_validate(body)
    assert field in _field_of(caught.value), caught.value.errors()


def test_exactly_one_time_is_required() -> None:
    for body in ({"url": "https://e.com/"}, {"url": "https://e.com/", "delay_seconds": 1, "fire_at": NOW.isoformat()}):
        with pytest.raises(ValidationError, match="exactly one of delay_seconds and fire_at"):
            TimerIn.model_validate(body)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"url": "https://e.com/", "delay_seconds": 31 * 86400}, "delay_seconds", "horizon"),
        ({"url": "https://e.com/", "fire_at": "2027-01-30T00:00:00Z"}, "fire_at", "horizon"),
        ({"url": "https://e.com/", "fire_at": "2026-11-22T11:58:00Z"}, "fire_at", "in the past"),
        ({"url": "http://127.0.0.1:8080/", "delay_seconds": 1}, "url", "loopback"),
    ],
)
def test_plan_names_the_field(body: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(FieldError, match=message) as caught:
        _plan(body)
    assert caught.value.detail()["loc"] == ["body", field]


def test_payload_at_the_limit_is_accepted() -> None:
    payload = "x" * (MAX_PAYLOAD_BYTES - 2)  # two quotes make it exactly 64 KiB of JSON
    assert len(json.dumps(payload)) == MAX_PAYLOAD_BYTES
    TimerIn.model_validate({"url": "https://e.com/", "delay_seconds": 1, "payload": payload})


# ---------------------------------------------------------------- security review #18 (findings 3, 4, 9)
def test_the_url_checked_is_the_url_called_with_the_id_appended() -> None:
    """``http://hooks.test`` + ``tmr_…`` is the host ``hooks.testtmr_…``: not the allowed ``hooks.test``."""
    request = TimerIn.model_validate({"url": "http://hooks.test", "delay_seconds": 1})
    with pytest.raises(FieldError, match=r"host 'hooks\.testtmr_[0-9a-f]+' is not in"):
        new_timer(request, NOW, 60, True, allowed_hosts=("hooks.test",))
    slash = TimerIn.model_validate({"url": "http://hooks.test/", "delay_seconds": 1})
    assert new_timer(slash, NOW, 60, True, allowed_hosts=("hooks.test",)).id.startswith("tmr_")


def test_job_event_idempotency_keys_are_reserved() -> None:
    with pytest.raises(ValidationError, match="courier-job:"):
        TimerIn.model_validate(
            {"url": "https://example.com/h/", "delay_seconds": 1, "idempotency_key": "courier-job:j:success"}
        )
    TimerIn.model_validate({"url": "https://example.com/h/", "delay_seconds": 1, "idempotency_key": "my-courier-job:1"})
