"""What the gateway's handlers depend on, gathered once and stored on the app."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from aiohttp import web

from services.gateway.client_auth import ClientAuthenticator
from services.gateway.client_cache import ClientCache
from services.gateway.client_keys import ClientKeyStore
from services.gateway.device.render import Templates
from services.gateway.long_poll import RequestWaiters
from services.gateway.password_checks import PasswordChecks
from services.gateway.rate_limit import RateLimiter
from services.gateway.sender_constraint import SenderConstraints
from services.gateway.stores.attempts import PostgresAttempts
from services.gateway.stores.clients import PostgresRegistrations
from services.gateway.stores.device import PostgresAccounts, PostgresDeviceLinks
from services.gateway.stores.devices import PostgresDevices
from services.gateway.stores.grants import PostgresCibaRequests
from services.gateway.stores.jtis import PostgresJtis
from services.gateway.stores.requests import PostgresNewRequests
from services.gateway.stores.tokens import PostgresTokens
from services.gateway.stores.users import PostgresUsers
from shared.config.model import ServerConfig
from shared.domain.token_issuance import Minter
from shared.errors import AccessDenied, Errors
from shared.jose.keys import KeyRing
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
    # The ports of /bc-authorize (services.gateway.stores): new requests without a per-user cap
    # stored together, and login_hints looked up together, one statement a batch each.
    new_requests: PostgresNewRequests
    users: PostgresUsers
    user_code_attempts: PostgresAttempts
    jtis: PostgresJtis
    # /register and /register/{client_id}; /introspect and /revoke; /bc-deviceRegistration.
    registrations: PostgresRegistrations
    tokens: PostgresTokens
    devices: PostgresDevices
    # /token and every endpoint that authenticates a client; the CIBA grant's requests.
    client_auth: ClientAuthenticator
    sender_constraints: SenderConstraints
    ciba_requests: PostgresCibaRequests
    # The device pages (services.gateway.device): links to requests' pages, and the accounts signing in.
    device_links: PostgresDeviceLinks
    device_accounts: PostgresAccounts
    templates: Templates
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
ERRORS: Errors = (AccessDenied.at(403),)  # check_feature_enabled's


def gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY]


def check_feature_enabled(config: ServerConfig) -> None:
    """The ciba feature flag gates /bc-authorize and /bc-deviceRegistration (403 while off)."""
    if not config.ciba_enabled:
        raise AccessDenied("CIBA is disabled on this server", status=403)
