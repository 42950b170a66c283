"""Standard Webhooks signatures (spec v1): ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

The secret is written ``whsec_<base64>``; the HMAC key is the decoded bytes. Receivers verify with any
Standard Webhooks library (the ``standardwebhooks`` package on PyPI is the reference).

Two keys, so that a receiver can tell Courier's own events from timers anyone with the timers API made:

* timers are signed with ``[courier] webhook_secret`` itself (unchanged: any Standard Webhooks receiver);
* job events (completion callbacks, ids ``evt_...``) are signed with the **job-event secret**, a key derived
  from it: ``HMAC-SHA256(key of webhook_secret, "courier-job-event")``, written ``whsec_<base64>`` again
  (:func:`job_events_secret`). No timer can carry that signature, whatever its payload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Literal

__all__ = [
    "JOB_EVENT_ID_PREFIX",
    "JOB_EVENT_PURPOSE",
    "PREFIX",
    "TOLERANCE_SECONDS",
    "Origin",
    "SignatureError",
    "headers",
    "job_events_secret",
    "origin",
    "purpose_key",
    "secret_key",
    "sign",
    "signing_key",
    "verify",
]

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
JOB_EVENT_PURPOSE = b"courier-job-event"
JOB_EVENT_ID_PREFIX = "evt_"  # ids of job events; no API lets a caller choose a timer's id
Origin = Literal["timer", "job-event"]


class SignatureError(ValueError):
    """A webhook's signature headers are missing, stale or do not match."""


def secret_key(secret: str) -> bytes:
    """Decode a ``whsec_<base64>`` secret (the prefix is optional) into the HMAC key."""
    return base64.b64decode(secret.removeprefix(PREFIX))


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """Return the ``webhook-signature`` value for one message."""
    key = secret if isinstance(secret, bytes) else secret_key(secret)
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str | bytes, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Return the three Standard Webhooks headers for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(secret, msg_id, ts, body)}


def verify(secret: str | bytes, received: dict[str, str], body: bytes, now: float | None = None) -> None:
    """Check a received message's headers (lower-case names) against ``secret``; raise :class:`SignatureError`."""
    try:
        msg_id = received["webhook-id"]
        timestamp = int(received["webhook-timestamp"])
        signatures = received["webhook-signature"].split()
    except (KeyError, ValueError) as exc:
        raise SignatureError(f"missing or malformed Standard Webhooks header: {exc}") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > TOLERANCE_SECONDS:
        raise SignatureError(f"webhook-timestamp {timestamp} is more than {TOLERANCE_SECONDS}s from now")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("no webhook-signature matches")


def purpose_key(secret: str | bytes, purpose: bytes) -> bytes:
    """The HMAC key for one purpose, derived from ``secret``: ``HMAC-SHA256(key, purpose)``."""
    key = secret if isinstance(secret, bytes) else secret_key(secret)
    return hmac.new(key, purpose, hashlib.sha256).digest()


def job_events_secret(secret: str) -> str:
    """The ``whsec_`` secret job events are signed with: give it to a Standard Webhooks library as is."""
    return PREFIX + base64.b64encode(purpose_key(secret, JOB_EVENT_PURPOSE)).decode()


def signing_key(secret: str | bytes, msg_id: str) -> bytes:
    """The key the dispatcher signs message ``msg_id`` with: the job-event key for ``evt_`` ids."""
    key = secret if isinstance(secret, bytes) else secret_key(secret)
    return purpose_key(key, JOB_EVENT_PURPOSE) if msg_id.startswith(JOB_EVENT_ID_PREFIX) else key


def origin(secret: str, received: dict[str, str], body: bytes, now: float | None = None) -> Origin:
    """Verify a received message and say what sent it: a ``"job-event"`` (signed with the job-event secret)
    or a ``"timer"`` (signed with ``webhook_secret``); raise :class:`SignatureError` when neither signed it.
    Only the signature decides: the body and the id are not trusted for this."""
    try:
        verify(purpose_key(secret, JOB_EVENT_PURPOSE), received, body, now)
        return "job-event"
    except SignatureError:
        verify(secret, received, body, now)
        return "timer"
