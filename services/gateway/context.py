"""What the gateway's handlers depend on, gathered once and stored on the app."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from services.gateway.client_cache import ClientCache
from services.gateway.client_keys import ClientKeyStore
from services.gateway.long_poll import RequestWaiters
from services.gateway.password_checks import PasswordChecks
from services.gateway.rate_limit import RateLimiter
from shared.config.model import ServerConfig
from shared.db.batching import Batcher
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import Minter
from shared.errors import AccessDenied
from shared.jose.keys import KeyRing
from shared.repositories.users import User
from shared.runtime import Runtime


@dataclass
class Gateway:
    rt: Runtime
    clients: ClientCache
    keyring: KeyRing
    minter: Minter
    waiters: RequestWaiters
    client_keys: ClientKeyStore
    rate_limiter: RateLimiter
    http: aiohttp.ClientSession  # outbound: clients' jwks_uri
    password_checks: PasswordChecks
    # New requests (without a per-user cap) stored together, and login_hints looked up
    # together: one statement a batch each (shared.db.batching).
    new_requests: Batcher[AuthRequest, None]
    login_hints: Batcher[str, list[User]]
    # Set once SIGTERM arrived: answers then close their connection, so no client sends its
    # next request on a keep-alive connection the stopping server is about to drop.
    stopping: bool = False

    async def close(self) -> None:
        await self.http.close()
        self.password_checks.close()

    @property
    def issuer(self) -> str:
        return self.rt.settings.issuer


GATEWAY = web.AppKey("gateway", Gateway)


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def check_feature_enabled(config: ServerConfig) -> None:
    """The ciba feature flag gates /bc-authorize and /bc-deviceRegistration (403 while off)."""
    if not config.ciba_enabled:
        raise AccessDenied("CIBA is disabled on this server", status=403)
