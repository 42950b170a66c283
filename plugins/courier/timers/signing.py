"""Standard Webhooks signatures (spec v1): ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``.

The secret is written ``whsec_<base64>``; the HMAC key is the decoded bytes. Receivers verify with any
Standard Webhooks library (the ``standardwebhooks`` package on PyPI is the reference).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60


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
