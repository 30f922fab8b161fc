"""Outbound HTTP to addresses we do not control (the relying parties' notification endpoints).

Every call has a timeout, follows no redirect, reads at most a capped response body, and
verifies TLS against the system store or CIBA_OUTBOUND_CA_BUNDLE. Destinations are checked
where the connection is made: a resolver that drops loopback, link-local, private and other
non-public addresses (unless the operator allows them), so a registered callback cannot
become a way into the operator's network, and a DNS answer cannot change between the check
and the connection. aiohttp does not resolve IP literals, so the session's middleware checks
those before any connection: every request through ``create_session`` is guarded, whoever
makes it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

if TYPE_CHECKING:
    from shared.runtime import Runtime

MAX_RESPONSE_BODY = 64 * 1024
RETRYABLE_STATUS = frozenset({408, 425, 429})


class DestinationRefused(OSError):
    """The callback URL resolves only to addresses the policy forbids."""


class DestinationRefusedError(aiohttp.ClientConnectionError):
    """A request to an IP literal (or localhost) the policy forbids, refused before connecting."""


@dataclass(frozen=True)
class AddressPolicy:
    allow_private: bool  # notificationEndpointAllowPrivateNetworks
    allow_loopback: bool  # development, or allow_private

    def allows(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if ip.is_multicast:
            return False
        if ip.is_loopback:
            return self.allow_loopback or self.allow_private
        if not ip.is_global:
            return self.allow_private
        return True


def address_policy(rt: Runtime) -> AddressPolicy:
    """Loopback is reachable in development; private networks only when the operator says so."""
    return AddressPolicy(allow_private=rt.config.notificationEndpointAllowPrivateNetworks,
                         allow_loopback=rt.settings.development)


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


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The system's trust store, plus the operator's extra CA bundle when given."""
    context = ssl.create_default_context()
    if ca_bundle:
        context.load_verify_locations(cafile=ca_bundle)
    return context


def create_session(*, ca_bundle: str | None, policy: Callable[[], AddressPolicy],
                   user_agent: str) -> aiohttp.ClientSession:
    """A session whose every connection obeys ``policy``: names through the guarded resolver,
    IP literals (which aiohttp never resolves) through a middleware."""

    async def refuse_literal_addresses(request: aiohttp.ClientRequest,
                                       handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
        if literal_address_refused(str(request.url), policy()):
            raise DestinationRefusedError(f"{request.url.host} is an address that is not allowed")
        return await handler(request)

    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy), ssl=ssl_context(ca_bundle),
                                     limit=200, limit_per_host=20)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                 headers={"User-Agent": user_agent}, middlewares=(refuse_literal_addresses,))


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


async def post_json(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], *,
                    bearer: str, timeout: float) -> CallResult:
    """POST ``payload`` with ``Authorization: Bearer`` through a session from
    ``create_session``; 200 and 204 are success, 408, 425, 429, 5xx and network failures are
    worth retrying, a refused destination and everything else are final."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {bearer}"}
    try:
        async with session.post(url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            await response.content.read(MAX_RESPONSE_BODY)
            status = response.status
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
