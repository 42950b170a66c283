"""Webhook signing (``webhooks/signing.py``): the Standard Webhooks test vector, the reference library, verification and the origin of a signed body."""

from __future__ import annotations

import pytest

from courier.webhooks import signing

# The Standard Webhooks specification's published test vector.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"


VECTOR_TS = 1614265330


VECTOR_BODY = b'{"test": 2432232314}'


VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


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
