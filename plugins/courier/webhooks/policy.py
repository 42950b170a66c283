"""Which addresses Courier will call. For webhook targets: http(s) only, and no private, loopback, link-local or other
non-public address unless ``[courier] webhook_allow_private_targets`` is set (server-side request forgery).
``[courier] webhook_allowed_hosts``, when set, narrows targets further to the listed hosts (``*.example.com``
matches sub-domains); it is checked before any name is resolved.

Names are resolved and every address they resolve to must pass. The URL checked is the one requested:
``url + id``. At creation the API checks with a lookup of its own (names of a batch resolved in parallel,
once each); at send time the dispatcher checks inside its HTTP client (:class:`CheckedResolver`): the
addresses checked are the addresses connected to, so a name that later resolves to a private address, or
answers differently to a second lookup (DNS rebinding), is refused then, and a failed lookup is a failed
attempt, never an unchecked send.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Resolver = Callable[[str], list[str]]
LOOKUPS_AT_ONCE = 16  # names of one request resolved in parallel at most


class TargetRefused(ValueError):
    """The URL is not one Courier may call."""


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether ``host`` is in the allow list (an empty list allows every host); ``*.example.com`` matches
    sub-domains. The ``allowed_hosts`` rule of webhooks and of every HTTP connection."""
    if not allowed_hosts:
        return True
    host = host.lower().rstrip(".")
    for pattern in allowed_hosts:
        pattern = pattern.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def resolve(host: str) -> list[str]:
    """Return every address ``host`` resolves to (blocking)."""
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TargetRefused(f"host {host!r} does not resolve: {exc.strerror}") from None
    return sorted({str(info[4][0]) for info in infos})


def split_target(url: str) -> str:
    """Check the URL's shape and return its host; raise :class:`TargetRefused`."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise TargetRefused(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"scheme {parts.scheme or '(none)'!r} is not allowed: use http or https")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not allowed: pass them as headers")
    return parts.hostname


def check_host(host: str, allowed_hosts: tuple[str, ...]) -> None:
    if not host_allowed(host, allowed_hosts):
        raise TargetRefused(f"host {host!r} is not in [courier] webhook_allowed_hosts ({', '.join(allowed_hosts)})")


def refused_address(address: str) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    if not ip.is_global:
        return "non-global"
    return None


def check_addresses(host: str, addresses: list[str]) -> None:
    for address in addresses:
        reason = refused_address(address)
        if reason:
            raise TargetRefused(
                f"host {host!r} resolves to {reason} address {address}; such targets are refused unless "
                "[courier] webhook_allow_private_targets is true"
            )


def _literal(host: str) -> str | None:
    """The address when ``host`` is an IP literal, else None."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def check_target(url: str, allow_private: bool, allowed_hosts: tuple[str, ...] = ()) -> str:
    """The checks that need no DNS (shape, allow list, an IP literal's address); return the host to resolve."""
    host = split_target(url)
    check_host(host, allowed_hosts)
    literal = _literal(host)
    if literal is not None and not allow_private:
        check_addresses(host, [literal])
    return host


def check_url(url: str, allow_private: bool, resolver: Resolver = resolve, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Raise :class:`TargetRefused` unless Courier may POST to ``url``."""
    host = check_target(url, allow_private, allowed_hosts)
    if not allow_private and _literal(host) is None:
        check_addresses(host, resolver(host))


def prefetch(
    urls: list[str],
    allow_private: bool,
    allowed_hosts: tuple[str, ...] = (),
    resolver: Resolver = resolve,
    concurrency: int = LOOKUPS_AT_ONCE,
) -> Resolver:
    """Resolve the names of ``urls`` in parallel (at most ``concurrency`` lookups at a time, each name once)
    and return a resolver answering from those results, for :func:`check_url` on each URL (a name not
    looked up here is resolved when asked). URLs refused without DNS, or not needing it, are skipped."""
    names: set[str] = set()
    for url in urls:
        try:
            host = check_target(url, allow_private, allowed_hosts)
        except TargetRefused:
            continue
        if not allow_private and _literal(host) is None:
            names.add(host)

    def lookup(host: str) -> list[str] | TargetRefused:
        try:
            return resolver(host)
        except TargetRefused as exc:
            return exc

    answers: dict[str, list[str] | TargetRefused] = {}
    if names:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(names)), thread_name_prefix="courier-dns") as pool:
            answers = dict(zip(names, pool.map(lookup, names), strict=True))

    def cached(host: str) -> list[str]:
        answer = answers[host] if host in answers else lookup(host)
        if isinstance(answer, TargetRefused):
            raise answer
        return answer

    return cached


class CheckedResolver(AbstractResolver):
    """aiohttp's resolver for webhook sends: the policy checked at connect time, on the addresses connected to.

    A name is resolved by ``inner`` (aiohttp's threaded resolver unless given) when aiohttp needs it (its
    60 s cache holds checked answers only); every address must pass the policy, else the connection is refused (:class:`TargetRefused`)
    and nothing is sent; only checked addresses are returned, so aiohttp connects to an address that
    was checked and no second lookup can answer differently (DNS rebinding). The Host header and TLS SNI
    keep the URL's name, as the resolver sits below them. A failed lookup raises ``OSError``: aiohttp
    reports it as ``ClientConnectorDNSError``, a failed attempt, retried like any other.
    """

    def __init__(self, allow_private: bool, inner: AbstractResolver | None = None) -> None:
        self.allow_private = allow_private
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        if not results:
            raise OSError(f"host {host!r} resolved to no address")
        if not self.allow_private:
            check_addresses(host, [r["host"] for r in results])
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()
