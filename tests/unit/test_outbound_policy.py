"""Which callback addresses the token-delivery service may connect to."""

from __future__ import annotations

import pytest

from shared.outbound import AddressPolicy, literal_address_refused

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
    ],
)
def test_address_policy(address: str, strict: bool, development: bool, open_: bool) -> None:
    assert STRICT.allows(address) is strict
    assert DEVELOPMENT.allows(address) is development
    assert OPEN.allows(address) is open_


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


async def test_a_guarded_session_refuses_a_forbidden_ip_literal_before_connecting() -> None:
    from shared.outbound import create_session, post_json

    async with create_session(ca_bundle=None, policy=lambda: STRICT, user_agent="test") as session:
        result = await post_json(session, "http://127.0.0.1:9/cb", {"auth_req_id": "x"}, bearer="b", timeout=1)
    assert (result.outcome, result.status_code) == ("final", None)
    assert "not allowed" in result.detail
