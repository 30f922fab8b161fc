"""Which callback addresses the token-delivery service may connect to."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import pytest

from shared.config.model import ServerConfig
from shared.outbound import AddressPolicy, address_policy, literal_address_refused

STRICT = AddressPolicy(allow_private=False, allow_loopback=False)
DEVELOPMENT = AddressPolicy(allow_private=False, allow_loopback=True)
OPEN = AddressPolicy(allow_private=True, allow_loopback=False)


@pytest.mark.parametrize(
    ("address", "strict", "development", "open_"),
    [
        ("93.184.215.14", True, True, True),
        ("2606:4700::6810:84e5", True, True, True),
        ("127.0.0.1", False, True, True),
        ("::1", False, True, True),
        ("10.0.0.8", False, False, True),
        ("172.16.5.4", False, False, True),
        ("192.168.1.1", False, False, True),
        ("169.254.169.254", False, False, True),  # cloud metadata
        ("fe80::1", False, False, True),
        ("fc00::1", False, False, True),
        ("100.64.0.1", False, False, True),  # carrier-grade NAT
        ("0.0.0.0", False, False, True),
        ("::ffff:127.0.0.1", False, True, True),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False, False, True),
        ("224.0.0.1", False, False, False),  # multicast never
        ("not-an-ip", False, False, False),
        ("::", False, False, True),  # unspecified: not an IPv4-compatible 0.0.0.0
        ("0:0:0:0:0:0:0:1", False, True, True),  # loopback in full: not IPv4-compatible 0.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, False, True),  # Teredo: obfuscated IPv4 inside
        ("2001::1", False, False, True),  # Teredo
        ("64:ff9b:1::808:808", False, False, True),  # NAT64 local-use (RFC 8215): the operator's own
        ("64:ff9b:1:ffff::1", False, False, True),
        ("64:ff9b::e000:1", False, False, False),  # NAT64 of 224.0.0.1: multicast never
    ],
)
def test_address_policy(address: str, strict: bool, development: bool, open_: bool) -> None:
    assert STRICT.allows(address) is strict
    assert DEVELOPMENT.allows(address) is development
    assert OPEN.allows(address) is open_


@pytest.mark.parametrize(("allow_private_networks", "development", "policy"), [
    (False, False, STRICT),
    (False, True, DEVELOPMENT),  # loopback reachable in development only
    (True, False, OPEN),  # private networks when notificationEndpointAllowPrivateNetworks says so
])
def test_the_policy_follows_the_operators_setting_and_the_environment(
        allow_private_networks: bool, development: bool, policy: AddressPolicy) -> None:
    config = ServerConfig(notificationEndpointAllowPrivateNetworks=allow_private_networks)
    assert address_policy(config, development=development) == policy


def _six_to_four(v4: str) -> str:
    packed = ipaddress.IPv4Address(v4).packed
    return f"2002:{packed[:2].hex()}:{packed[2:].hex()}::1"


def _nat64_hex(v4: str) -> str:
    return str(ipaddress.IPv6Address(f"64:ff9b::{v4}"))  # 64:ff9b::7f00:1, as DNS64 hands it out


# IPv6 addresses that carry an IPv4 address the network delivers to (or that names it).
EMBEDDINGS: dict[str, Callable[[str], str]] = {
    "ipv4-mapped": lambda v4: f"::ffff:{v4}",
    "ipv4-translated": lambda v4: f"::ffff:0:{v4}",  # RFC 2765
    "ipv4-compatible": lambda v4: f"::{v4}",  # deprecated, RFC 4291 2.5.5.1
    "nat64": lambda v4: f"64:ff9b::{v4}",  # well-known prefix, RFC 6052
    "nat64-hex": _nat64_hex,
    "6to4": _six_to_four,  # RFC 3056
}

# The embedded IPv4 address, and whether STRICT, DEVELOPMENT and OPEN allow it (the IPv4 rules).
EMBEDDED = [
    ("127.0.0.1", False, True, True),
    ("127.8.9.10", False, True, True),
    ("10.1.2.3", False, False, True),
    ("192.168.1.1", False, False, True),
    ("172.16.5.4", False, False, True),
    ("172.31.255.254", False, False, True),
    ("169.254.169.254", False, False, True),  # cloud metadata
    ("100.64.0.1", False, False, True),  # carrier-grade NAT
    ("0.0.0.0", False, False, True),
    ("8.8.8.8", True, True, True),
    ("93.184.215.14", True, True, True),
]


@pytest.mark.parametrize(("v4", "strict", "development", "open_"), EMBEDDED)
@pytest.mark.parametrize("form", EMBEDDINGS)
def test_an_ipv4_address_embedded_in_ipv6_is_judged_by_the_ipv4_rules(
        form: str, v4: str, strict: bool, development: bool, open_: bool) -> None:
    address = EMBEDDINGS[form](v4)
    assert (STRICT.allows(address), DEVELOPMENT.allows(address), OPEN.allows(address)) == (
        strict, development, open_), address


@pytest.mark.parametrize(("url", "refused"), [
    ("https://[64:ff9b::7f00:1]/cb", True),
    ("https://[64:ff9b::127.0.0.1]:8443/cb", True),
    ("https://[64:ff9b::a9fe:a9fe]/latest/meta-data/", True),
    ("https://[64:ff9b::a00:1]/cb", True),
    ("https://[2002:a9fe:a9fe::1]/cb", True),
    ("https://[2002:c0a8:101::]/cb", True),
    ("https://[::ffff:0:7f00:1]/cb", True),
    ("https://[::ffff:0:6440:1]/cb", True),
    ("https://[::7f00:1]/cb", True),
    ("https://[::ac10:504]/cb", True),
    ("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/cb", True),
    ("https://[64:ff9b:1::808:808]/cb", True),
    ("https://[64:ff9b::808:808]/cb", False),
    ("https://[2002:808:808::1]/cb", False),
])
def test_embedded_ipv4_literals_in_urls_are_refused_at_registration(url: str, refused: bool) -> None:
    assert literal_address_refused(url, STRICT) is refused


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://rp.example.com/cb", False),  # names are checked by the resolver at connect time
        ("https://127.0.0.1/cb", True),
        ("https://localhost/cb", True),
        ("https://[::1]:8443/cb", True),
        ("https://10.1.2.3/cb", True),
        ("https://93.184.215.14/cb", False),
    ],
)
def test_literal_addresses_in_urls_are_checked_before_connecting(url: str, refused: bool) -> None:
    assert literal_address_refused(url, STRICT) is refused


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/cb", "http://[64:ff9b::7f00:1]:9/cb",
                                 "http://[2002:7f00:1::1]:9/cb"])
async def test_a_guarded_session_refuses_a_forbidden_ip_literal_before_connecting(url: str) -> None:
    from shared.outbound import create_session, post_json

    async with create_session(ca_bundle=None, policy=lambda: STRICT, user_agent="test") as session:
        result = await post_json(session, url, {"auth_req_id": "x"}, bearer="b", timeout=1)
    assert (result.outcome, result.status_code) == ("final", None)
    assert "not allowed" in result.detail
