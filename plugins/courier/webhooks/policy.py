"""Which addresses Courier will call. For webhook targets: http(s) only, and no private, loopback, link-local or other
non-public address unless ``[courier] webhook_allow_private_targets`` is set (server-side request forgery).
``[courier] webhook_allowed_hosts``, when set, narrows targets further to the listed hosts (``*.example.com``
matches sub-domains); it is checked before any name is resolved.

Names are resolved and every address they resolve to must pass. The URL checked is the one requested:
``url + id``. At creation the API checks with a lookup of its own (:func:`aprefetch`): on the event loop,
never in a worker thread (dnspython's asyncio resolver, the system's ``resolv.conf`` name servers), every
name of a request once, in parallel, all within ``[courier] webhook_dns_timeout`` seconds (a name not
answered by then is refused, naming the deadline), and at most :data:`MAX_HOSTS` distinct names per request; at send time the dispatcher checks inside its HTTP client (:class:`CheckedResolver`): the
addresses checked are the addresses connected to, so a name that later resolves to a private address, or
answers differently to a second lookup (DNS rebinding), is refused then, and a failed lookup is a failed
attempt, never an unchecked send.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Resolver = Callable[[str], list[str]]
MAX_HOSTS = 50
"""Distinct host names one request (a timer batch, a job batch) may ask the API to resolve."""
NAME_SERVERS: tuple[tuple[str, int], ...] = ()
"""(address, port) of the name servers the API's lookups ask; empty: the system's (``resolv.conf``)."""


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


SITE_LOCAL = ipaddress.ip_network("fec0::/10")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
NAT64 = ipaddress.ip_network("64:ff9b::/96")


def refused_address(address: str) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is.

    Beyond :mod:`ipaddress`'s flags (Python 3.11 counts ``fec0::/10`` and ``2002::/16`` as global): IPv6
    site-local ``fec0::/10`` and 6to4 ``2002::/16`` are refused (a 6to4 address reaches the IPv4 address it
    embeds, private ones included), and an IPv4-mapped, NAT64 (``64:ff9b::/96``) or Teredo address is judged
    by the IPv4 address it carries."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in SITE_LOCAL:
            return "site-local"
        if ip.sixtofour is not None or ip in SIX_TO_FOUR:
            return "6to4"
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            reason = refused_address(str(embedded))
            return f"NAT64 of {reason}" if reason else None
        elif ip.teredo is not None:
            reason = refused_address(str(ip.teredo[1]))
            return f"Teredo to {reason}" if reason else None
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


class TooManyHosts(TargetRefused):
    """A request names more distinct hosts than :data:`MAX_HOSTS`."""


def _names(urls: Sequence[str], allow_private: bool, allowed_hosts: tuple[str, ...]) -> set[str]:
    """The host names of ``urls`` that need a lookup (shape and allow list passed, not an IP literal)."""
    names: set[str] = set()
    for url in urls:
        try:
            host = check_target(url, allow_private, allowed_hosts)
        except TargetRefused:
            continue
        if not allow_private and _literal(host) is None:
            names.add(host)
    return names


HOSTS_FILE = "/etc/hosts"


def _hosts_file(path: str = HOSTS_FILE) -> dict[str, list[str]]:
    """``name -> addresses`` of the hosts file (the system consults it before DNS; dnspython does not)."""
    entries: dict[str, set[str]] = {"localhost": {"127.0.0.1", "::1"}}  # RFC 6761: always loopback
    try:
        with open(path, encoding="utf-8", errors="replace") as hosts:
            for line in hosts:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and _literal(fields[0]) is not None:
                    for name in fields[1:]:
                        entries.setdefault(name.lower().rstrip("."), set()).add(fields[0])
    except OSError:
        pass
    return {name: sorted(addresses) for name, addresses in entries.items()}


def _name_resolver() -> object:
    import dns.asyncresolver
    import dns.resolver

    if not NAME_SERVERS:
        try:
            return dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            return None
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [address for address, _ in NAME_SERVERS]
    resolver.port = NAME_SERVERS[0][1]
    return resolver


async def _alookup(resolver: object, host: str, deadline: float) -> list[str] | TargetRefused:
    import dns.exception
    import dns.resolver

    known = _hosts_file().get(host.lower().rstrip("."))
    if known:
        return known
    if resolver is None:
        return TargetRefused(f"host {host!r} cannot be resolved: no name server is configured")
    try:
        answer = await resolver.resolve_name(host, family=socket.AF_UNSPEC, lifetime=deadline)  # type: ignore[attr-defined]
    except dns.exception.Timeout:
        return TargetRefused(f"the lookup of host {host!r} did not answer within {deadline:g}s")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return TargetRefused(f"host {host!r} does not resolve")
    except dns.exception.DNSException as exc:
        return TargetRefused(f"host {host!r} does not resolve: {exc}")
    addresses = sorted(set(answer.addresses()))
    return addresses or TargetRefused(f"host {host!r} does not resolve")


async def aprefetch(
    urls: Sequence[str],
    allow_private: bool,
    allowed_hosts: tuple[str, ...] = (),
    deadline: float = 3.0,
    max_hosts: int = MAX_HOSTS,
) -> Resolver:
    """Resolve the names of ``urls`` on the running event loop, all at once, within ``deadline`` seconds,
    and return a resolver answering from those results for :func:`check_url` (a name not answered by the
    deadline is refused). No thread waits on DNS. :class:`TooManyHosts` past ``max_hosts`` names."""
    names = sorted(_names(urls, allow_private, allowed_hosts))
    if len(names) > max_hosts:
        raise TooManyHosts(
            f"the request names {len(names)} distinct hosts to resolve; at most {max_hosts} are accepted per request"
        )
    answers: dict[str, list[str] | TargetRefused] = {}
    if names:
        resolver = _name_resolver()
        tasks = {name: asyncio.ensure_future(_alookup(resolver, name, deadline)) for name in names}
        _, pending = await asyncio.wait(tasks.values(), timeout=deadline + 0.1)
        for task in pending:
            task.cancel()
        for name, task in tasks.items():
            if task in pending or task.cancelled():
                answers[name] = TargetRefused(f"the lookup of host {name!r} did not answer within {deadline:g}s")
            else:
                answers[name] = task.result()

    def cached(host: str) -> list[str]:
        answer = answers.get(host) or TargetRefused(f"host {host!r} was not resolved")
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
