"""The shared HTTP layer: an Airflow connection becomes an httpx client; requests retry the way APIs need.

Retried: connection errors and timeouts, 408, 429 and 5xx, with exponential backoff and full jitter;
a ``Retry-After`` header (seconds or HTTP-date) replaces the computed delay, clamped to
``RetryPolicy.max_retry_after``. Everything else is returned to the caller to interpret.
Airflow's HTTP hooks do not honour ``Retry-After`` and their async hook does not retry 429; that is why
Courier has this module.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How to retry one request.

    :param attempts: total tries, the first included.
    :param backoff: first delay in seconds; doubles each retry.
    :param max_backoff: cap of a computed delay.
    :param max_retry_after: cap of a server's ``Retry-After``.
    :param statuses: HTTP statuses that are retried.
    """

    attempts: int = 5
    backoff: float = 1.0
    max_backoff: float = 30.0
    max_retry_after: float = 300.0
    statuses: frozenset[int] = RETRY_STATUSES

    def delay(self, attempt: int, response: httpx.Response | None, rng: random.Random | None = None) -> float:
        """Return the wait before retry number ``attempt`` (1-based), honouring ``Retry-After``."""
        if response is not None:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), self.max_retry_after)
            if retry_after is not None:
                return retry_after
        ceiling = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)  # "equal jitter": never 0, never above the cap


def parse_retry_after(value: str | None, maximum: float = 300.0, now: datetime | None = None) -> float | None:
    """Parse ``Retry-After`` (delay-seconds or HTTP-date) into seconds in ``[0, maximum]``; None when absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, min(maximum, seconds))


class RetriesExhausted(RuntimeError):
    """Every attempt failed; carries the last response or error."""

    def __init__(self, method: str, url: str, attempts: int, last: httpx.Response | BaseException) -> None:
        self.response = last if isinstance(last, httpx.Response) else None
        self.error = last if isinstance(last, BaseException) else None
        what = f"HTTP {last.status_code}" if isinstance(last, httpx.Response) else f"{type(last).__name__}: {last}"
        super().__init__(f"{method} {url} failed after {attempts} attempt(s): {what}")


@dataclass(frozen=True)
class HttpSettings:
    """What an Airflow HTTP connection says about reaching a service."""

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: float = 30.0
    connect_timeout: float = 10.0
    verify: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)

    def client_kwargs(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "headers": dict(self.headers),
            "auth": self.auth,
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "verify": self.verify,
            "follow_redirects": True,
        }


def settings_from_connection(conn: Any) -> HttpSettings:
    """Read an Airflow connection: host/schema/port → base URL; login+password → basic auth;
    password alone or ``extra.token`` → bearer token; ``extra.headers``, ``extra.timeout``,
    ``extra.connect_timeout``, ``extra.verify``.
    """
    extra = dict(conn.extra_dejson or {})
    host = conn.host or "localhost"
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = conn.schema or "http"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    headers = {str(k): str(v) for k, v in (extra.get("headers") or {}).items()}
    auth = None
    token = extra.get("token") or (conn.password if conn.password and not conn.login else None)
    if token:
        headers.setdefault("Authorization", f"Bearer {token}")
    elif conn.login:
        auth = (conn.login, conn.password or "")
    return HttpSettings(
        base_url=base,
        headers=headers,
        auth=auth,
        timeout=float(extra.get("timeout", 30.0)),
        connect_timeout=float(extra.get("connect_timeout", 10.0)),
        verify=bool(extra.get("verify", True)),
        extra=extra,
    )


def settings_for(conn_id: str) -> HttpSettings:
    """Resolve an Airflow connection id into :class:`HttpSettings`."""
    from airflow.sdk import BaseHook

    return settings_from_connection(BaseHook.get_connection(conn_id))


RetryIf = Callable[[httpx.Response], bool]


def _decide(
    policy: RetryPolicy,
    method: str,
    url: str,
    attempt: int,
    outcome: httpx.Response | BaseException,
    retry_if: RetryIf | None = None,
) -> httpx.Response | float:
    """Return the response to hand back, or the delay before the next attempt (raise when none is left)."""
    if isinstance(outcome, httpx.Response):
        retryable = retry_if(outcome) if retry_if else outcome.status_code in policy.statuses
    else:
        retryable = isinstance(outcome, httpx.TransportError)
    if not retryable:
        assert isinstance(outcome, httpx.Response)
        return outcome
    if attempt >= policy.attempts:
        raise RetriesExhausted(method, url, attempt, outcome)
    delay = policy.delay(attempt, outcome if isinstance(outcome, httpx.Response) else None)
    log.warning("%s %s: %s; retry %d/%d in %.2fs", method, url, _describe(outcome), attempt, policy.attempts - 1, delay)
    return delay


def request(
    client: httpx.Client,
    method: str,
    url: str,
    policy: RetryPolicy = RetryPolicy(),
    *,
    sleep: Callable[[float], None] = time.sleep,
    retry_if: RetryIf | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Send a request, retrying per ``policy``; return the first non-retryable response.

    ``retry_if`` replaces the status check for callers whose API puts meaning in a retryable status
    (a 503 that says "not ready yet" is an answer, not an outage).
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            outcome: httpx.Response | BaseException = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            outcome = exc
        step = _decide(policy, method, url, attempt, outcome, retry_if)
        if isinstance(step, httpx.Response):
            return step
        sleep(step)


async def arequest(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    policy: RetryPolicy = RetryPolicy(),
    *,
    retry_if: RetryIf | None = None,
    stream: bool = False,
    **kwargs: Any,
) -> httpx.Response:
    """Asynchronous :func:`request`. With ``stream``, the body is not read: the caller reads the response
    returned (``aiter_bytes``) and closes it; a response that is retried is closed here."""
    send_options = {k: kwargs.pop(k) for k in ("auth", "follow_redirects") if k in kwargs}
    attempt = 0
    while True:
        attempt += 1
        try:
            sent = client.build_request(method, url, **kwargs)
            outcome: httpx.Response | BaseException = await client.send(sent, stream=stream, **send_options)
        except httpx.TransportError as exc:
            outcome = exc
        step = _decide(policy, method, url, attempt, outcome, retry_if)
        if isinstance(step, httpx.Response):
            return step
        if isinstance(outcome, httpx.Response):
            await outcome.aclose()
        await asyncio.sleep(step)


def _describe(outcome: httpx.Response | BaseException) -> str:
    if isinstance(outcome, httpx.Response):
        return f"HTTP {outcome.status_code}"
    return f"{type(outcome).__name__}: {outcome}"
