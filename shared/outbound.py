"""Outbound HTTP to addresses we do not control (the relying parties' notification endpoints).

Every call has a timeout, follows no redirect, reads the response body to its end but no
further than a cap (``read_body``), and verifies TLS against the system store or
CIBA_OUTBOUND_CA_BUNDLE. Destinations are checked where the connection is made: a resolver
that drops loopback, link-local, private and other non-public addresses (unless the operator
allows them), so a registered callback cannot become a way into the operator's network, and a
DNS answer cannot change between the check and the connection. An IPv6 address that carries
an IPv4 address (NAT64, 6to4, IPv4-mapped, -translated, -compatible) is judged by that IPv4
address; Teredo and the NAT64 local-use prefix, whose IPv4 address cannot be read back, count
as private. aiohttp does not resolve IP literals, so the session's middleware checks those
before any connection: every request through ``create_session`` is guarded, whoever makes it.

The notification plugins, which reach providers the operator chose (APNs, FCM, SMTP), share
with it how a server's certificate is verified (``tls_context``, ``certificate_refused``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared import tracing
from shared.config.model import ServerConfig

MAX_RESPONSE_BODY = 64 * 1024
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DestinationRefused(OSError):
    """The callback URL resolves only to addresses the policy forbids."""


class DestinationRefusedError(aiohttp.ClientConnectionError):
    """A request to an IP literal (or localhost) the policy forbids, refused before connecting."""


class ResponseTooLarge(Exception):
    """The response body is longer than the caller's cap; what is past the cap was not read."""


async def read_body(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``response``, read to its end, or ResponseTooLarge past ``limit`` bytes.

    ``response.content.read(n)`` is not this: it returns what is already buffered, so an
    answer arriving in several TCP segments would be cut short (a JWK Set that does not parse,
    a success that looks like a failure). The cap keeps a hostile server from making us buffer
    without end; what a body over the cap means is for the caller to decide."""
    body = bytearray()
    while chunk := await response.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise ResponseTooLarge(f"the response body is longer than {limit} bytes")
    return bytes(body)


# IPv6 prefixes whose addresses carry an IPv4 address in their last 32 bits: a packet to one
# reaches (or, in the IPv4-compatible case, names) that IPv4 host, so the IPv4 rules apply.
# ``::ffff:0:0/96`` (IPv4-mapped) is handled by ``ipv4_mapped``; ``::/96`` holds ``::`` and
# ``::1``, which keep their own meaning (unspecified, loopback).
_NOT_IPV4_COMPATIBLE = frozenset({ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")})
_LAST_32_BITS_IPV4 = (
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated, RFC 2765
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible (deprecated), RFC 4291 2.5.5.1
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix, RFC 6052
)
# Prefixes whose embedded IPv4 address cannot be read back: Teredo obfuscates it, and the NAT64
# local-use prefix (RFC 8215) is the operator's own network, its prefix length unknown to us.
_PRIVATE_TRANSLATION = (
    ipaddress.IPv6Network("2001::/32"),  # Teredo, RFC 4380
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # NAT64 local-use, RFC 8215
)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``ip`` is delivered to, for the forms that say it plainly
    (IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64 well-known prefix, 6to4); else None."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48 routes to AA.BB.CC.DD, RFC 3056
        return ip.sixtofour
    if ip in _NOT_IPV4_COMPATIBLE:
        return None
    if any(ip in network for network in _LAST_32_BITS_IPV4):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool  # notificationEndpointAllowPrivateNetworks
    allow_loopback: bool  # development, or allow_private

    def allows(self, address: str) -> bool:
        """IPv6 addresses that embed an IPv4 address are judged by it: ``64:ff9b::7f00:1`` is
        127.0.0.1 through NAT64, and must not pass for a public IPv6 address."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address):
            if any(ip in network for network in _PRIVATE_TRANSLATION):
                return self.allow_private
            ip = embedded_ipv4(ip) or ip
        if ip.is_multicast:
            return False
        if ip.is_loopback:
            return self.allow_loopback or self.allow_private
        if not ip.is_global:
            return self.allow_private
        return True


def address_policy(config: ServerConfig, *, development: bool) -> AddressPolicy:
    """Loopback is reachable in development; private networks only when the operator says so."""
    return AddressPolicy(allow_private=config.notificationEndpointAllowPrivateNetworks, allow_loopback=development)


class GuardedResolver(AbstractResolver):
    def __init__(self, policy: Callable[[], AddressPolicy]) -> None:
        self._policy = policy
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        policy = self._policy()
        allowed = [r for r in results if policy.allows(r["host"])]
        if not allowed:
            raise DestinationRefused(f"{host} resolves only to addresses that are not allowed")
        return allowed

    async def close(self) -> None:
        await self._inner.close()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """How an outbound connection verifies its server (``create_session``'s, the APNs and SMTP
    plugins'): against the system's trust store, plus the operator's extra CA file when given.
    Verification is always on. A ``ca_file`` that cannot be read as PEM certificates raises
    OSError (ssl.SSLError is one); each caller says which of its settings named the file."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def certificate_refused(exc: BaseException) -> bool:
    """Whether a connection failed because the server's certificate did not verify; client
    libraries wrap the ssl error a few causes deep."""
    seen: BaseException | None = exc
    for _ in range(16):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def create_session(*, ca_bundle: str | None, policy: Callable[[], AddressPolicy],
                   user_agent: str) -> aiohttp.ClientSession:
    """A session whose every connection obeys ``policy``: names through the guarded resolver,
    IP literals (which aiohttp never resolves) through a middleware."""

    async def refuse_literal_addresses(request: aiohttp.ClientRequest,
                                       handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if literal_address_refused(str(request.url), policy()):
            raise DestinationRefusedError(f"{request.url.host} is an address that is not allowed")
        return await handler(request)

    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), ssl=tls_context(ca_bundle),
                                     limit=200, limit_per_host=20)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"User-Agent": user_agent},
                                 middlewares=(refuse_literal_addresses, *tracing.client_middlewares()))


@dataclass(frozen=True)
class CallResult:
    outcome: Literal["delivered", "retry", "final"]
    status_code: int | None
    detail: str


def literal_address_refused(url: str, policy: AddressPolicy) -> bool:
    """Whether the URL names, by IP literal or as localhost, an address the policy forbids
    (names are left to the resolver). Also used to refuse such URLs at registration."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host.lower() == "localhost" and not (policy.allow_loopback or policy.allow_private)
    return not policy.allows(host)


async def drain(response: aiohttp.ClientResponse) -> None:
    """Read and drop an answer whose status alone decides (a callback's, a webhook's). A body
    over the cap, cut off or still arriving when the call's time is up changes nothing: the
    receiver has already said it took the notification, and calling again would deliver it
    twice. Read to its end, the connection goes back to the pool; otherwise it is closed."""
    with contextlib.suppress(ResponseTooLarge, aiohttp.ClientError, TimeoutError):
        await read_body(response, MAX_RESPONSE_BODY)


async def post_json(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], *,
                    bearer: str, timeout: float) -> CallResult:
    """POST ``payload`` with ``Authorization: Bearer`` through a session from
    ``create_session``; 200 and 204 are success, 408, 425, 429, 5xx and network failures are
    worth retrying, a refused destination and everything else are final. The status is the
    answer: the body is read to its end only so the connection can serve the next call."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            status = response.status
            await drain(response)
    except TimeoutError:
        return CallResult("retry", None, f"no answer within {timeout:g} s")
    except DestinationRefusedError as exc:
        return CallResult("final", None, str(exc))
    except aiohttp.ClientConnectorError as exc:
        if isinstance(exc.os_error, DestinationRefused):
            return CallResult("final", None, str(exc.os_error))
        return CallResult("retry", None, f"connection failed: {type(exc).__name__}")
    except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
        return CallResult("retry", None, f"request failed: {type(exc).__name__}")
    if status in (200, 204):
        return CallResult("delivered", status, f"HTTP {status}")
    if status in RETRYABLE_STATUS or status >= 500:
        return CallResult("retry", status, f"HTTP {status}")
    if 300 <= status < 400:
        return CallResult("final", status, f"HTTP {status}: redirects are not followed")
    return CallResult("final", status, f"HTTP {status}")
