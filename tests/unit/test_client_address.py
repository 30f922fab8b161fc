"""Which address a sign-in comes from: X-Forwarded-For is believed only from trusted proxies,
and only as far as the chain of trusted proxies goes."""

from __future__ import annotations

import ipaddress
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from services.gateway.client_address import client_address

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]


def request_from(peer: str, *forwarded: str):
    headers = CIMultiDict(("X-Forwarded-For", value) for value in forwarded)
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: (peer, 0) if name == "peername" else default
    return make_mocked_request("POST", "/device/x/login", headers=headers, transport=transport)


@pytest.mark.parametrize(("peer", "forwarded", "proxies", "expected"), [
    ("203.0.113.5", [], PROXIES, "203.0.113.5"),
    ("203.0.113.5", ["198.51.100.1"], PROXIES, "203.0.113.5"),  # an untrusted peer cannot claim
    ("10.0.0.2", ["198.51.100.1"], [], "10.0.0.2"),  # no proxies configured
    ("10.0.0.2", ["198.51.100.1"], PROXIES, "198.51.100.1"),
    ("10.0.0.2", ["192.0.2.66, 198.51.100.1, 10.3.3.3"], PROXIES, "198.51.100.1"),  # forged left part ignored
    ("10.0.0.2", ["192.0.2.66", "198.51.100.1"], PROXIES, "198.51.100.1"),  # several header lines
    ("10.0.0.2", ["10.9.9.9, 10.3.3.3"], PROXIES, "10.9.9.9"),  # all trusted: the farthest one
    ("10.0.0.2", ["198.51.100.1, not-an-ip"], PROXIES, "10.0.0.2"),  # garbage: stop at the last proxy
    ("10.0.0.2", [], PROXIES, "10.0.0.2"),
    ("2001:db8::1", ["2001:db8::2, 2a00:1450::1"], PROXIES, "2a00:1450::1"),
])
def test_client_address(peer, forwarded, proxies, expected) -> None:
    assert client_address(request_from(peer, *forwarded), proxies) == expected
