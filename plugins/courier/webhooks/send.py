"""One webhook POST and what came of it: the HTTP session every sender uses, the send, the outcome classified.

The session (:func:`session`) checks the address policy at connect time (:class:`~courier.webhooks.policy.CheckedResolver`),
never follows a redirect (a 3xx is an answer, not a new target), never decompresses an answer
(``auto_decompress`` off) and reads at most :data:`ANSWER_LIMIT` bytes of it (:func:`read_prefix`): a longer
answer's connection is closed, so a receiver answering a gzip bomb or an endless body costs the sender
at most that much per send (security review #23, H1). Only the status and ``Retry-After`` are kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver

from courier import __version__
from courier.http import parse_retry_after
from courier.webhooks.policy import CheckedResolver, TargetRefused, check_target
from courier.webhooks.retry import retryable

ANSWER_LIMIT = 16 * 1024
"""Bytes of a webhook answer read at most (as sent: never decompressed)."""
MAX_RETRY_AFTER = 24 * 3600.0


def session(
    *,
    timeout: float,
    allow_private: bool,
    max_in_flight: int,
    lookup: AbstractResolver | None = None,
    cookie_jar: aiohttp.abc.AbstractCookieJar | None = None,
) -> aiohttp.ClientSession:
    """The HTTP session of a sender: the policy at connect time (names resolved by ``lookup``, aiohttp's
    threaded resolver by default; 60 s cache of checked answers), ``max_in_flight`` connections, answers
    bounded and never decompressed."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=max_in_flight, ttl_dns_cache=60, resolver=CheckedResolver(allow_private, lookup)
        ),
        timeout=aiohttp.ClientTimeout(total=timeout),
        auto_decompress=False,
        read_bufsize=ANSWER_LIMIT,
        headers={"user-agent": f"Courier/{__version__}", "content-type": "application/json"},
        cookie_jar=cookie_jar,
    )


async def read_prefix(response: aiohttp.ClientResponse, limit: int = ANSWER_LIMIT) -> bytes:
    """Read at most ``limit`` bytes of ``response``'s body as sent; when the body is longer, close the
    connection instead of reading on."""
    body = bytearray()
    while len(body) <= limit:
        chunk = await response.content.read(limit + 1 - len(body))
        if not chunk:
            return bytes(body)
        body += chunk
    response.close()
    return bytes(body[:limit])


@dataclass(frozen=True)
class Answer:
    """What one send came to: a status ``code`` (None: no answer, ``error`` says why), the server's
    ``retry_after`` (seconds), ``refused`` when the policy stopped it before anything was sent."""

    code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    refused: bool = False
    duration_ms: float = 0.0

    @property
    def delivered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def retryable(self) -> bool:
        """Worth another attempt (:mod:`courier.webhooks.retry`); a refused target never is."""
        return not self.refused and not self.delivered and retryable(self.code)


async def send(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    allowed_hosts: tuple[str, ...] = (),
    timeout: float,
) -> Answer:
    """POST ``body`` to ``url`` (the URL checked is the URL requested) and classify what happened."""
    try:
        host = check_target(url, allow_private, allowed_hosts)
    except TargetRefused as exc:
        return Answer(error=str(exc), refused=True)
    return await post(client, url, body, headers, timeout=timeout, host=host)


async def post(
    client: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    host: str | None = None,
) -> Answer:
    """POST ``body`` to ``url``, already checked by :func:`courier.webhooks.policy.check_target` (the
    connect-time check is the session's), and classify what happened."""
    clock = time.perf_counter()
    code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    try:  # a redirect is an answer (3xx: failed, never followed), not a new target
        payload = aiohttp.BytesPayload(body, content_type="application/json")  # no registry lookup per send
        async with client.post(url, data=payload, headers=headers, allow_redirects=False) as response:
            code = response.status
            retry_after = parse_retry_after(response.headers.get("retry-after"), maximum=MAX_RETRY_AFTER)
            await read_prefix(response)
    except TargetRefused as exc:  # at connect time: no request was sent
        return Answer(error=str(exc), refused=True)
    except TimeoutError:
        error = f"timed out after {timeout:g}s"
    except aiohttp.ClientConnectorDNSError as exc:
        error = f"DNS lookup of {host or exc.host!r} failed, nothing sent: {exc.os_error}"[:500]
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    if error is not None:
        code = None
    return Answer(code, error, retry_after, duration_ms=(time.perf_counter() - clock) * 1000)
