"""The address policy's corners (security review #23, L3): addresses Python 3.11's ``is_global`` lets through."""

from __future__ import annotations

import re

import pytest

from courier.webhooks.policy import TargetRefused, check_url, refused_address


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
