"""Client authentication at /bc-authorize and /token (RFC 6749 2.3, RFC 7523, OIDC Core 9).

- client_secret_basic and client_secret_post: the secret, compared as a keyed hash in
  constant time.
- client_secret_jwt: an HMAC-signed assertion keyed with the client secret.
- private_key_jwt: an assertion signed with a key from the client's jwks or jwks_uri.
- tls_client_auth and self_signed_tls_client_auth (RFC 8705 2): the client_id parameter names
  the client, its TLS client certificate authenticates it (services/gateway/mtls.py).

Assertions: iss = sub = client_id, aud the issuer or the endpoint's URL, exp required and at
most five minutes ahead, jti single-use within its lifetime, alg from an allow-list (never
``none``). A client may use only the method it registered. Every failure is the same 401
invalid_client ("client authentication failed") with a WWW-Authenticate challenge, so the
answer never tells whether a client_id exists or how it authenticates; the reason goes to
the log for the operator.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import unquote

from aiohttp import web
from joserfc.jwk import OctKey

from services.gateway import jwt_checks, mtls
from services.gateway.client_keys import KeySource, verify_signed_by_client
from services.gateway.forms import Form
from shared.clock import Clock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain import fapi_ciba
from shared.domain.client_metadata import ASYMMETRIC_ALGS, HMAC_ALGS, MTLS_AUTH_METHODS
from shared.errors import Errors, InvalidClient, InvalidRequest
from shared.logging import get_logger
from shared.repositories.clients import Client

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_MAX_LIFETIME_SEC = 300
# The parameters of CIBA Core 7.1, and RFC 9396's authorization_details (they belong inside a
# signed request, never an assertion).
AUTH_REQUEST_PARAMETERS = ("scope", "client_notification_token", "acr_values", "login_hint_token",
                           "id_token_hint", "login_hint", "binding_message", "user_code", "requested_expiry",
                           "authorization_details", "ui_locales")
# RFC 9101 10.8: the typ of a request object, never a client assertion's.
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"
GENERIC_FAILURE = "client authentication failed"
ERRORS: Errors = (InvalidClient, InvalidRequest)  # mtls.authenticate's too: invalid_client

log = get_logger("ciba.gateway")


class RegisteredClients(Protocol):
    """Registered clients by client_id (ClientCache)."""

    async def get(self, client_id: str) -> Client | None: ...


class ClientSecrets(Protocol):
    """Where a client's secret is kept (stores/client_auth.py: PostgresClientSecrets)."""

    async def store_secret(self, client_id: str, secret_hash: bytes, secret_enc: str) -> None:
        """The secret hashed and encrypted anew, under the newest master key."""
        ...


class UsedJtis(Protocol):
    """Single-use JWT ids, one space per client (stores/jtis.py: PostgresJtis)."""

    async def use(self, client_id: str, purpose: str, jti: str, expires_at: datetime) -> bool:
        """Record the jti; False when this client already used it."""
        ...


@dataclass(frozen=True)
class ClientAuthenticator:
    """Client authentication, the same at every endpoint that needs it: built once in
    build_gateway. The handler's config snapshot comes with each call (FAPI-CIBA's algorithms)."""

    clients: RegisteredClients
    client_secrets: ClientSecrets
    jtis: UsedJtis
    keys: KeySource  # the clients' jwks or jwks_uri (ClientKeyStore)
    secrets: Secrets
    clock: Clock
    issuer: str
    certificates: mtls.CertificateSource  # where a request's client certificate comes from

    async def authenticate(self, request: web.Request, form: Form, config: ServerConfig) -> Client:
        try:
            return await self._authenticate(request, form, config)
        except InvalidClient as exc:
            log.info("client_authentication_failed", reason=exc.description, client_id=_claimed_id(request, form))
            raise InvalidClient(GENERIC_FAILURE) from None

    async def _authenticate(self, request: web.Request, form: Form, config: ServerConfig) -> Client:
        basic = _basic_credentials(request)
        posted_secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        if sum(x is not None for x in (basic, posted_secret, assertion)) > 1:
            raise InvalidRequest("use exactly one client authentication method")
        if basic is not None:
            client_id, secret = basic
            if form.get("client_id") not in (None, client_id):
                raise InvalidRequest("client_id does not match the authenticated client")
            return await self._by_secret("client_secret_basic", client_id, secret)
        if posted_secret is not None:
            return await self._by_secret("client_secret_post", form.get("client_id") or "", posted_secret)
        if assertion is not None:
            if form.get("client_assertion_type") != JWT_BEARER:
                raise InvalidClient(f"client_assertion_type must be {JWT_BEARER}")
            return await self._by_assertion(request, form.get("client_id"), assertion, config)
        if form.get("client_id"):
            return await self._by_certificate(request, form.get("client_id") or "")
        raise InvalidClient("client authentication is required")

    async def _by_certificate(self, request: web.Request, client_id: str) -> Client:
        """RFC 8705 2: the client_id names the client, the TLS client certificate authenticates it."""
        client = await self._registered(client_id, MTLS_AUTH_METHODS)
        return await mtls.authenticate(request, client, source=self.certificates, now=self.clock.now(), keys=self.keys)

    async def _registered(self, client_id: str, methods: tuple[str, ...]) -> Client:
        client = await self.clients.get(client_id) if client_id else None
        if client is None:
            raise InvalidClient("client authentication failed")
        return _check_method(client, methods)

    async def _by_secret(self, method: str, client_id: str, secret: str) -> Client:
        client = await self.clients.get(client_id) if client_id else None
        if client is None or client.client_secret_hash is None:
            self.secrets.hash(secret)  # same work as a real check, so timing does not tell
            raise InvalidClient("client authentication failed")
        key = self.secrets.matching_key(secret, client.client_secret_hash)
        if key is None:
            raise InvalidClient("client authentication failed")
        if key > 0:  # hashed under an older master key: move it to the newest while we hold it
            await self.client_secrets.store_secret(client.client_id, self.secrets.hash(secret),
                                                   self.secrets.encrypt(secret))
            log.info("client_secret_rehashed", client_id=client.client_id)
        return _check_method(client, (method,))

    async def _by_assertion(self, request: web.Request, client_id: str | None, assertion: str,
                            config: ServerConfig) -> Client:
        try:
            peeked = jwt_checks.peek(assertion)
        except jwt_checks.JwtRejected as exc:
            raise InvalidClient(f"client_assertion: {exc}") from None
        issuer = peeked.claims.get("iss")
        if not isinstance(issuer, str) or (client_id is not None and client_id != issuer):
            raise InvalidClient("client_assertion: iss must be the client_id")
        _check_not_a_request_object(peeked)
        alg = peeked.header.get("alg")
        method = "client_secret_jwt" if isinstance(alg, str) and alg.startswith("HS") else "private_key_jwt"
        client = await self._registered(issuer, (method,))
        try:
            claims = await self._verify_assertion(client, assertion, config)
            jwt_checks.check_audience(claims, {self.issuer, f"{self.issuer}{request.path}"})
            if claims.get("sub") != client.client_id:
                raise jwt_checks.JwtRejected("sub must be the client_id")
            lifetime = jwt_checks.check_lifetime(claims, self.clock.now(), max_lifetime=ASSERTION_MAX_LIFETIME_SEC)
            jti = jwt_checks.require_string(claims, "jti")
        except jwt_checks.JwtRejected as exc:
            raise InvalidClient(f"client_assertion: {exc}") from None
        if not await self.jtis.use(client.client_id, "client_assertion", jti,
                                   datetime.fromtimestamp(lifetime.exp + jwt_checks.LEEWAY_SEC, UTC)):
            raise InvalidClient("client_assertion: this jti was already used")
        return client

    async def _verify_assertion(self, client: Client, assertion: str, config: ServerConfig) -> dict[str, Any]:
        if client.token_endpoint_auth_method == "client_secret_jwt":
            if client.client_secret_enc is None:
                raise jwt_checks.JwtRejected("the client has no secret to verify with")
            key = OctKey.import_key(self.secrets.decrypt(client.client_secret_enc).encode())
            return jwt_checks.verify(assertion, key, allowed_algs(client, HMAC_ALGS))
        # FAPI-CIBA: PS256 or ES256 only (an RS256 assertion fails like a bad signature).
        algorithms = fapi_ciba.algorithms(allowed_algs(client, ASYMMETRIC_ALGS), config, client)
        return await verify_signed_by_client(self.keys, client, assertion, algorithms)


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _claimed_id(request: web.Request, form: Form) -> str | None:
    """The client_id the caller claims, for the operator's log (never the secret)."""
    try:
        basic = _basic_credentials(request)
    except InvalidClient:
        basic = None
    if basic is not None:
        return basic[0][:200]
    if form.get("client_id"):
        return (form.get("client_id") or "")[:200]
    try:
        issuer = jwt_checks.peek(form.get("client_assertion") or "").claims.get("iss")
    except jwt_checks.JwtRejected:
        return None
    return issuer[:200] if isinstance(issuer, str) else None


def _check_method(client: Client, methods: tuple[str, ...]) -> Client:
    if client.token_endpoint_auth_method not in methods:
        raise InvalidClient(f"the client is registered for {client.token_endpoint_auth_method}")
    return client


def _check_not_a_request_object(peeked: jwt_checks.Unverified) -> None:
    """A signed authentication request of the same client can pass every assertion check (iss,
    sub, aud, a short exp); refuse anything that looks like one. Its jti is in the same space
    as assertions' too (shared.repositories.jtis), so a used one is refused either way."""
    if str(peeked.header.get("typ", "")).lower() == REQUEST_OBJECT_TYP:
        raise InvalidClient("client_assertion: a request object is not a client assertion")
    carried = [name for name in AUTH_REQUEST_PARAMETERS if name in peeked.claims]
    if carried:
        raise InvalidClient(f"client_assertion: carries authentication request parameters ({', '.join(carried)})")


def allowed_algs(client: Client, candidates: tuple[str, ...]) -> list[str]:
    registered = client.token_endpoint_auth_signing_alg
    return [registered] if registered in candidates else list(candidates)
