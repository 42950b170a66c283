"""The shared HTTP layer: an Airflow connection becomes an httpx client; requests retry the way APIs need.

Retried: what :mod:`courier.webhooks.retry` retries (connection errors and timeouts, 408, 429, and 5xx but
501 and 505: the one rule webhooks use too), with exponential backoff and jitter;
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from courier.connections import HTTP_EXTRAS, Extra, parse_extras
from courier.webhooks.policy import TargetRefused, check_url
from courier.webhooks.policy import host_allowed as host_allowed  # the allowed_hosts rule, re-exported
from courier.webhooks.retry import retryable

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset(code for code in range(400, 600) if retryable(code))
"""The statuses :func:`courier.webhooks.retry.retryable` retries, as a set (a policy may narrow it)."""


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


def origin(url: str | httpx.URL) -> tuple[str, str, int | None]:
    """Return (scheme, host, port) with default ports made explicit."""
    parts = urlsplit(str(url))
    return parts.scheme, (parts.hostname or "").lower().rstrip("."), parts.port or DEFAULT_PORTS.get(parts.scheme)


DEFAULT_PORTS = {"http": 80, "https": 443}
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


@dataclass(frozen=True)
class HttpSettings:
    """What an Airflow HTTP connection says about reaching a service.

    The connection's credentials (basic auth, token, ``extra.headers``) go only to the base URL's origin: a
    request hook strips them from any request to another origin (an absolute URL, a page link, a redirect).
    ``extra.allowed_hosts`` lists the other hosts a run's endpoint param may name (never with credentials).

    **Address policy** (:meth:`check_destination`, on every request its clients send, redirects included):
    the base URL's origin is the connection's own (an operator chose it); any other host must be in
    ``extra.allowed_hosts`` when that is set, and must otherwise resolve to public addresses only
    (:mod:`courier.webhooks.policy`: no loopback, private, link-local such as 169.254.169.254, ...). A refused
    request raises :class:`~courier.webhooks.policy.TargetRefused` before anything is sent, and is not retried.
    """

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    auth: tuple[str, str] | None = None
    timeout: float = 30.0
    connect_timeout: float = 10.0
    verify: bool = True
    extra: Mapping[str, Any] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    conn_id: str = ""

    def __post_init__(self) -> None:
        if not self.allowed_hosts and self.extra.get("allowed_hosts"):  # built from an extra, not a connection
            object.__setattr__(self, "allowed_hosts", _allowed_hosts(self.extra["allowed_hosts"]))

    def check_destination(self, url: str | httpx.URL) -> None:
        """Raise :class:`TargetRefused` unless this connection's clients may send a request to ``url``."""
        if origin(url) == origin(self.base_url):
            return
        host = origin(url)[1]
        if self.allowed_hosts:
            if host_allowed(host, self.allowed_hosts):
                return
            where = f"the connection {self.conn_id}" if self.conn_id else self.base_url
            raise TargetRefused(
                f"{url} is refused: its host {host!r} is neither {where}'s nor in its allowed_hosts extra "
                f"({', '.join(self.allowed_hosts)})"
            )
        try:
            check_url(str(url), allow_private=False)
        except TargetRefused as exc:
            raise TargetRefused(f"{url} is refused: {exc}") from None

    def client_kwargs(
        self, *, asynchronous: bool = False, response_hooks: Sequence[Callable[..., Any]] = ()
    ) -> dict[str, Any]:
        """The ``httpx.Client`` (or, ``asynchronous``, ``AsyncClient``) arguments: the address policy
        (:meth:`check_destination`, once per origin and client) and the credential guard run on every
        request, redirects included."""
        checked: set[str] = set()  # origins that passed, per client

        def guard(request: httpx.Request) -> None:
            where = "{}://{}:{}".format(*origin(request.url))
            if where not in checked:
                self.check_destination(request.url)
                checked.add(where)
            self.strip_foreign_credentials(request)

        if asynchronous:

            async def async_guard(request: httpx.Request) -> None:
                where = "{}://{}:{}".format(*origin(request.url))
                if where not in checked:  # the lookup off the event loop
                    await asyncio.to_thread(self.check_destination, request.url)
                    checked.add(where)
                self.strip_foreign_credentials(request)

            request_hook: Callable[..., Any] = async_guard
        else:
            request_hook = guard
        return {
            "base_url": self.base_url,
            "headers": dict(self.headers),
            "auth": self.auth,
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "verify": self.verify,
            "follow_redirects": True,
            "event_hooks": {"request": [request_hook], "response": list(response_hooks)},
        }

    def strip_foreign_credentials(self, request: httpx.Request) -> None:
        """Drop ``Authorization`` and the connection's headers (``extra.headers``) from a request to another origin than
        the base URL's (httpx runs request hooks on every request it sends, redirects included)."""
        if origin(request.url) == origin(self.base_url):
            return
        names = CREDENTIAL_HEADERS | {name.lower() for name in self.headers}
        for name in [n for n in request.headers if n.lower() in names]:
            del request.headers[name]

    def endpoint(self, value: str, param: str = "endpoint", relative: bool = True) -> str:
        """Check a run's endpoint param: a path relative to the connection's base URL (unless not
        ``relative``), or an absolute ``http(s)`` URL on the connection's origin or on a host its
        ``extra.allowed_hosts`` lists; raise :class:`ParamError`."""
        from courier.params import ParamError

        text = value.strip()
        where = f"the connection {self.conn_id} ({self.base_url})" if self.conn_id else self.base_url
        allowed = (
            f"hosts in its allowed_hosts extra ({', '.join(self.allowed_hosts)})"
            if self.allowed_hosts
            else ("no other host (the connection's allowed_hosts extra lists none)")
        )
        wanted = f"a path relative to {where}, such as /data" if relative else f"a URL on {where}"
        refused = ParamError(f"{param} = {value!r} is refused: give {wanted}; absolute URLs may only name {allowed}")
        decoded = text
        for _ in range(5):  # %2F%2Fevil, %255C ...: look at what any layer could decode it into
            decoded, before = unquote(decoded), decoded
            if decoded == before:
                break
        if not text or "\\" in decoded or any(ord(c) < 0x20 or ord(c) == 0x7F for c in decoded):
            raise refused
        if not any(_absolute_like(form) for form in (text, decoded)):
            if relative:
                return text
            raise refused
        if decoded != text:
            raise refused
        try:
            parts = urlsplit(text)
            host, same = parts.hostname or "", origin(text) == origin(self.base_url)
        except ValueError:
            raise refused from None
        if parts.scheme not in DEFAULT_PORTS or not host or "@" in parts.netloc:
            raise refused
        if not same and not (self.allowed_hosts and host_allowed(host, self.allowed_hosts)):
            raise refused
        return text


def _absolute_like(text: str) -> bool:
    """Whether ``text`` could name another host: a scheme, an authority, or ``//`` in front."""
    parts = urlsplit(text)
    return bool(parts.scheme or parts.netloc or text.startswith("//") or ":" in parts.path.split("/", 1)[0])


def _allowed_hosts(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value or ())
    return tuple(str(h).strip().lower() for h in items if str(h).strip())


def settings_from_connection(conn: Any, extras: tuple[Extra, ...] = HTTP_EXTRAS) -> HttpSettings:
    """Read an Airflow connection: host/schema/port → base URL; login+password → basic auth;
    password alone or ``extra.token`` → bearer token; ``extra.headers``, ``extra.timeout``,
    ``extra.connect_timeout``, ``extra.verify``, ``extra.allowed_hosts`` (list or comma-separated).

    Every extra in ``extras`` (a connection type's, :mod:`courier.connections`) is parsed with its type, so
    ``HttpSettings.extra`` holds typed values with their defaults; a bad one raises
    :class:`~courier.connections.ConnectionExtraError` naming it. The connection's type is not checked: one of
    the borrowed type ``http`` is read the same way.
    """
    conn_id = str(getattr(conn, "conn_id", "") or "")
    extra = parse_extras(extras, conn.extra_dejson, conn_id)
    host = conn.host or "localhost"
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = conn.schema or "http"
        base = f"{scheme}://{host}" + (f":{conn.port}" if conn.port else "")
    headers = {str(k): str(v) for k, v in (extra["headers"] or {}).items()}
    auth = None
    token = extra["token"] or (conn.password if conn.password and not conn.login else None)
    if token:
        headers.setdefault("Authorization", f"Bearer {token}")
    elif conn.login:
        auth = (conn.login, conn.password or "")
    return HttpSettings(
        base_url=base,
        headers=headers,
        auth=auth,
        timeout=extra["timeout"],
        connect_timeout=extra["connect_timeout"],
        verify=extra["verify"],
        extra=extra,
        allowed_hosts=_allowed_hosts(extra["allowed_hosts"]),
        conn_id=conn_id,
    )


def settings_for(conn_id: str, extras: tuple[Extra, ...] = HTTP_EXTRAS) -> HttpSettings:
    """Resolve an Airflow connection id into :class:`HttpSettings` (``extras``: its type's, parsed with their types)."""
    from airflow.sdk import BaseHook

    return settings_from_connection(BaseHook.get_connection(conn_id), extras)


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
    peek: int | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """Asynchronous :func:`request`. With ``stream``, the body is not read: the caller reads the response
    returned (``aiter_bytes``) and closes it; a response that is retried is closed here. With ``peek``, at most
    ``peek + 1`` bytes of each body are read and the connection is closed: the response returned (and the one
    ``retry_if`` sees) carries that prefix only, for a caller that decides on the start of a body that may be
    large (the report trigger asks "ready yet?" without downloading the report)."""
    send_options = {k: kwargs.pop(k) for k in ("auth", "follow_redirects") if k in kwargs}
    attempt = 0
    while True:
        attempt += 1
        try:
            sent = client.build_request(method, url, **kwargs)
            outcome: httpx.Response | BaseException = await client.send(
                sent, stream=stream or peek is not None, **send_options
            )
            if peek is not None:
                assert isinstance(outcome, httpx.Response)
                outcome = await _peeked(outcome, peek)
        except httpx.TransportError as exc:
            outcome = exc
        step = _decide(policy, method, url, attempt, outcome, retry_if)
        if isinstance(step, httpx.Response):
            return step
        if isinstance(outcome, httpx.Response):
            await outcome.aclose()
        await asyncio.sleep(step)


_BODY_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


async def _peeked(response: httpx.Response, limit: int) -> httpx.Response:
    """A response with the first ``limit + 1`` bytes (decoded) of ``response``'s body; ``response`` is closed."""
    prefix = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            prefix += chunk
            if len(prefix) > limit:
                break
    finally:
        await response.aclose()
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _BODY_HEADERS]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(prefix[: limit + 1]), request=response.request
    )


def _describe(outcome: httpx.Response | BaseException) -> str:
    if isinstance(outcome, httpx.Response):
        return f"HTTP {outcome.status_code}"
    return f"{type(outcome).__name__}: {outcome}"
