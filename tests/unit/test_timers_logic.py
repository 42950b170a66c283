"""Timers logic without I/O: signatures, the URL policy, the retry schedule, request checks."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from courier.timers.models import MAX_PAYLOAD_BYTES, FieldError, TimerIn, new_timer
from courier.timers.rules import Status, decide
from courier.webhooks import signing
from courier.webhooks.policy import TargetRefused, check_url, refused_address

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- signing
def test_signature_matches_the_spec_test_vector() -> None:
    assert signing.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE


def test_reference_library_verifies_our_headers() -> None:
    from standardwebhooks.webhooks import Webhook

    body = b'{"id":"tmr_1","payload":{"a":1}}'
    headers = signing.headers(VECTOR_SECRET, "tmr_1", body)
    assert Webhook(VECTOR_SECRET).verify(body, headers) == {"id": "tmr_1", "payload": {"a": 1}}


def test_verify_rejects_tampering_stale_and_missing() -> None:
    headers = signing.headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, VECTOR_TS)
    signing.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 10)
    with pytest.raises(signing.SignatureError, match="no webhook-signature"):
        signing.verify(VECTOR_SECRET, headers, VECTOR_BODY + b" ", now=VECTOR_TS)
    with pytest.raises(signing.SignatureError, match="more than"):
        signing.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TS + 301)
    with pytest.raises(signing.SignatureError, match="missing"):
        signing.verify(VECTOR_SECRET, {"webhook-id": VECTOR_ID}, VECTOR_BODY, now=VECTOR_TS)


# ---------------------------------------------------------------- URL policy
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("ff02::1", "multicast"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_refused_addresses(address: str, reason: str | None) -> None:
    assert refused_address(address) == reason


def test_names_resolving_to_private_addresses_are_refused() -> None:
    resolver = {"internal.example": ["93.184.216.34", "10.0.0.7"], "public.example": ["93.184.216.34"]}.__getitem__
    with pytest.raises(TargetRefused, match=re.escape("private address 10.0.0.7")):
        check_url("https://internal.example/hook/", allow_private=False, resolver=resolver)
    check_url("https://public.example/hook/", allow_private=False, resolver=resolver)
    check_url("http://internal.example/hook/", allow_private=True, resolver=resolver)  # allowed when configured


def test_allowed_hosts_narrow_targets_before_any_lookup() -> None:
    def no_lookup(host: str) -> list[str]:
        raise AssertionError(f"{host} was resolved although the allow list refuses it")

    allowed = ("127.0.0.1", "*.example.com")
    with pytest.raises(TargetRefused, match="webhook_allowed_hosts"):
        check_url("http://10.0.0.1/x", allow_private=True, resolver=no_lookup, allowed_hosts=allowed)
    with pytest.raises(TargetRefused, match="webhook_allowed_hosts"):
        check_url("https://example.com.evil.net/x", allow_private=False, resolver=no_lookup, allowed_hosts=allowed)
    check_url("http://127.0.0.1:9/x", allow_private=True, resolver=no_lookup, allowed_hosts=allowed)
    check_url(
        "https://hooks.EXAMPLE.com/x", allow_private=False, resolver=lambda h: ["93.184.216.34"], allowed_hosts=allowed
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("example.com/x", "scheme '(none)'"),
        ("http:///path", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://[::1]/x", "loopback"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=re.escape(message)):
        check_url(url, allow_private=False, resolver=lambda host: ["93.184.216.34"])


# ---------------------------------------------------------------- retry schedule and status transitions
SCHEDULE = (0.0, 5.0, 300.0)


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_is_delivered(code: int) -> None:
    assert decide(code, 1, SCHEDULE).status is Status.DELIVERED


@pytest.mark.parametrize("code", [None, 408, 429, 500, 502, 503, 599])
def test_retryable_follow_the_schedule(code: int | None) -> None:
    assert [decide(code, n, SCHEDULE).delay for n in (1, 2, 3)] == [0.0, 5.0, 300.0]
    assert decide(code, 1, SCHEDULE).status is Status.RETRYING
    final = decide(code, 4, SCHEDULE, error="timed out" if code is None else None)
    assert final.status is Status.FAILED and "gave up after 4" in (final.reason or "")


@pytest.mark.parametrize("code", [301, 400, 401, 404, 410, 422])
def test_other_codes_stop(code: int) -> None:
    decision = decide(code, 1, SCHEDULE)
    assert decision.status is Status.FAILED and f"HTTP {code}" in (decision.reason or "")


def test_retry_after_lengthens_but_never_shortens() -> None:
    assert decide(429, 2, SCHEDULE, retry_after=60).delay == 60
    assert decide(503, 3, SCHEDULE, retry_after=60).delay == 300


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


def test_origin_tells_a_job_event_from_a_timer_with_the_same_body() -> None:
    body = b'{"id":"x","payload":{"type":"job.success","job_id":"j","status":"success"}}'
    event = signing.headers(signing.signing_key(VECTOR_SECRET, "evt_1"), "evt_1", body, VECTOR_TS)
    timer = signing.headers(signing.signing_key(VECTOR_SECRET, "tmr_1"), "tmr_1", body, VECTOR_TS)
    assert signing.origin(VECTOR_SECRET, event, body, now=VECTOR_TS) == "job-event"
    assert signing.origin(VECTOR_SECRET, timer, body, now=VECTOR_TS) == "timer"
    forged = {**timer, "webhook-id": "evt_1"}  # an id is not a signature
    with pytest.raises(signing.SignatureError):
        signing.origin(VECTOR_SECRET, forged, body, now=VECTOR_TS)
    from standardwebhooks.webhooks import Webhook

    fresh = signing.headers(signing.signing_key(VECTOR_SECRET, "evt_2"), "evt_2", body)  # Standard Webhooks as is
    assert Webhook(signing.job_events_secret(VECTOR_SECRET)).verify(body, fresh)["id"] == "x"
