"""The address a request comes from, for limits per source address.

Behind a reverse proxy every request arrives from the proxy, and the client's address is in
``X-Forwarded-For``, which anyone can also write. So the header is believed only when the TCP
peer is a proxy the operator listed (CIBA_TRUSTED_PROXIES), and then only as far as the chain
of trusted proxies goes: reading from the right, the first address that is not a trusted
proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == network.version and ip in network for network in proxies)


def from_trusted_proxy(request: web.Request, proxies: Sequence[Network]) -> bool:
    """Whether the TCP peer is one of the operator's proxies (CIBA_TRUSTED_PROXIES)."""
    return bool(proxies) and _trusted(request.remote or "", proxies)


def client_address(request: web.Request, proxies: Sequence[Network]) -> str:
    peer = request.remote or "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", ())
            for hop in header.split(",")]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # written by someone beyond the trusted chain: stop at the last proxy
        client = hop
        if not _trusted(hop, proxies):
            break
    return client
