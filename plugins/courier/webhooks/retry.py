"""The one retry rule of every outbound HTTP call: which answers are worth another attempt.

Webhook sends (timers, job events) and the connection-based HTTP clients (:mod:`courier.http`) both use it:
no answer (a connection error or a timeout), ``408 Request Timeout``, ``429 Too Many Requests`` and every
``5xx`` except ``501 Not Implemented`` and ``505 HTTP Version Not Supported`` (the server says it will never
do this request: another attempt cannot help). Everything else is final. Pure.
"""

from __future__ import annotations

RETRIED_CLIENT_ERRORS = frozenset({408, 429})
FINAL_SERVER_ERRORS = frozenset({501, 505})


def retryable(status_code: int | None) -> bool:
    """Whether an attempt that answered ``status_code`` (None: no answer) is retried."""
    if status_code is None or status_code in RETRIED_CLIENT_ERRORS:
        return True
    return 500 <= status_code <= 599 and status_code not in FINAL_SERVER_ERRORS
