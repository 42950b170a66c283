"""Which webhook targets Courier will call: http(s) only, and no private, loopback, link-local or other
non-public address unless ``[courier] webhook_allow_private_targets`` is set (server-side request forgery).
``[courier] webhook_allowed_hosts``, when set, narrows targets further to the listed hosts (``*.example.com``
matches sub-domains); it is checked before any name is resolved.

Names are resolved and every address they resolve to must pass; the dispatcher checks again at fire time
(with a short cache), so a name that later resolves to a private address is refused then too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

Resolver = Callable[[str], list[str]]


class TargetRefused(ValueError):
    """The URL is not one Courier may call."""


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


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """Whether ``host`` is in the allow list (an empty list allows every host)."""
    if not allowed_hosts:
        return True
    host = host.lower().rstrip(".")
    for pattern in allowed_hosts:
        pattern = pattern.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


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


def check_url(url: str, allow_private: bool, resolver: Resolver = resolve, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Raise :class:`TargetRefused` unless Courier may POST to ``url``."""
    host = split_target(url)
    check_host(host, allowed_hosts)
    if allow_private:
        return
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        addresses = resolver(host)
    check_addresses(host, addresses)


class AsyncPolicy:
    """The fire-time check: same rules, non-blocking resolution, answers cached for ``ttl`` seconds."""

    def __init__(self, allow_private: bool, ttl: float = 60.0, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = allowed_hosts
        self.ttl = ttl
        self._cache: dict[str, tuple[float, str | None]] = {}

    async def refusal(self, url: str) -> str | None:
        """Why ``url`` may not be called now, or None."""
        try:
            host = split_target(url)
            check_host(host, self.allowed_hosts)
        except TargetRefused as exc:
            return str(exc)
        if self.allow_private:
            return None
        cached = self._cache.get(host)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError:
                return None  # not resolvable now: the delivery fails as a network error and is retried
            addresses = sorted({str(info[4][0]) for info in infos})
        try:
            check_addresses(host, addresses)
            reason = None
        except TargetRefused as exc:
            reason = str(exc)
        self._cache[host] = (time.monotonic() + self.ttl, reason)
        return reason
