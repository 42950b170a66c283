"""The webhook address policy (``webhooks/policy.py``): refused addresses, names resolving to them, the allow list,
bad URLs; and its corners (security review #23, L3): addresses Python 3.11's ``is_global`` lets through."""

from __future__ import annotations

import re

import pytest

from courier.webhooks.policy import TargetRefused, check_url, refused_address


# ---------------------------------------------------------------- URL policy
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fd00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("ff02::1", "multicast"),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
    ],
)
def test_refused_addresses(address: str, reason: str | None) -> None:
    assert refused_address(address) == reason


def test_names_resolving_to_private_addresses_are_refused() -> None:
    resolver = {"internal.example": ["93.184.216.34", "10.0.0.7"], "public.example": ["93.184.216.34"]}.__getitem__
    with pytest.raises(TargetRefused, match=re.escape("private address 10.0.0.7")):
        check_url("https://internal.example/hook/", allow_private=False, resolver=resolver)
    check_url("https://public.example/hook/", allow_private=False, resolver=resolver)
    check_url("http://internal.example/hook/", allow_private=True, resolver=resolver)  # allowed when configured


def test_allowed_hosts_narrow_targets_before_any_lookup() -> None:
    def no_lookup(host: str) -> list[str]:
        raise AssertionError(f"{host} was resolved although the allow list refuses it")

    allowed = ("127.0.0.1", "*.example.com")
    with pytest.raises(TargetRefused, match="webhook_allowed_hosts"):
        check_url("http://10.0.0.1/x", allow_private=True, resolver=no_lookup, allowed_hosts=allowed)
    with pytest.raises(TargetRefused, match="webhook_allowed_hosts"):
        check_url("https://example.com.evil.net/x", allow_private=False, resolver=no_lookup, allowed_hosts=allowed)
    check_url("http://127.0.0.1:9/x", allow_private=True, resolver=no_lookup, allowed_hosts=allowed)
    check_url(
        "https://hooks.EXAMPLE.com/x", allow_private=False, resolver=lambda h: ["93.184.216.34"], allowed_hosts=allowed
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "scheme 'ftp'"),
        ("example.com/x", "scheme '(none)'"),
        ("http:///path", "no host"),
        ("https://user:pw@example.com/", "credentials"),
        ("http://[::1]/x", "loopback"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(TargetRefused, match=re.escape(message)):
        check_url(url, allow_private=False, resolver=lambda host: ["93.184.216.34"])


# ---------------------------------------------------------------- corners (security review #23, L3)
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("fec0::1", "site-local"),  # deprecated site-local: is_global in Python 3.11
        ("feff:ffff::1", "site-local"),
        ("2002:c0a8:0101::1", "6to4"),  # 6to4 of 192.168.1.1
        ("2002:a9fe:a9fe::1", "6to4"),  # 6to4 of 169.254.169.254 (cloud metadata)
        ("2002:5db8:d822::1", "6to4"),  # 6to4 of a public address: 2002::/16 is not treated as global either
        ("64:ff9b::a9fe:a9fe", "NAT64 of link-local"),
        ("64:ff9b::7f00:1", "NAT64 of loopback"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo to private"),  # client 192.0.2.45 (TEST-NET-1)
    ],
)
def test_ipv6_forms_that_reach_private_addresses_are_refused(address: str, reason: str) -> None:
    assert refused_address(address) == reason


def test_public_addresses_still_pass() -> None:
    assert refused_address("64:ff9b::5db8:d822") is None  # NAT64 of 93.184.216.34
    assert refused_address("2606:2800:220:1:248:1893:25c8:1946") is None
    assert refused_address("93.184.216.34") is None


def test_a_name_resolving_to_6to4_of_a_private_address_is_refused() -> None:
    resolver = {"sneaky.example": ["2002:0a00:0007::1"]}.__getitem__
    with pytest.raises(TargetRefused, match=re.escape("6to4 address 2002:0a00:0007::1")):
        check_url("https://sneaky.example/hook/", allow_private=False, resolver=resolver)
