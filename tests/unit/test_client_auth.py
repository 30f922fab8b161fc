"""Client authentication (services/gateway/client_auth.py) through its ports, with in-memory
fakes: which credentials authenticate which client, and that every failure looks the same to
the caller. tests/integration/test_client_authentication.py proves the same over HTTP."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from cryptography.fernet import Fernet
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey

from services.gateway.client_auth import GENERIC_FAILURE, JWT_BEARER, ClientAuthenticator
from services.gateway.forms import Form
from services.gateway.mtls import CertificateSource
from shared.clock import FrozenClock
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain.auth_request import DeliveryMode
from shared.errors import ProtocolError
from shared.repositories.clients import CIBA_GRANT, Client

ISSUER = "https://as.example.com"
NOW = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
OLD_KEY, NEW_KEY = Fernet.generate_key(), Fernet.generate_key()
SECRETS = Secrets([NEW_KEY, OLD_KEY])
SECRET = "s3cret:with+odd chars"
SIGNING_KEY = ECKey.generate_key("P-256")


def registered(client_id: str, method: str, **fields: Any) -> Client:
    client = Client(client_id=client_id, client_secret_hash=SECRETS.hash(SECRET), client_name=None,
                    token_endpoint_auth_method=method, grant_types=[CIBA_GRANT], scope=["openid"],
                    backchannel_token_delivery_mode=DeliveryMode.POLL, backchannel_client_notification_endpoint=None,
                    backchannel_authentication_request_signing_alg=None, backchannel_user_code_parameter=False,
                    id_token_signed_response_alg="ES256", metadata={}, created_at=NOW - timedelta(days=7),
                    client_secret_enc=SECRETS.encrypt(SECRET))
    return replace(client, **fields)


CLIENTS = {client.client_id: client for client in (
    registered("basic", "client_secret_basic"),
    registered("post", "client_secret_post"),
    registered("hmac", "client_secret_jwt"),
    registered("keys", "private_key_jwt"),
    registered("rotated", "client_secret_basic", client_secret_hash=Secrets(OLD_KEY).hash(SECRET)),
    registered("no-secret", "client_secret_basic", client_secret_hash=None),
)}


class FakeClients:
    def __init__(self, *added: Client) -> None:
        self.clients = {**CLIENTS, **{client.client_id: client for client in added}}

    async def get(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)


class FakeClientSecrets:
    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    async def store_secret(self, client_id: str, secret_hash: bytes, secret_enc: str) -> None:
        self.stored[client_id] = secret_hash


class FakeJtis:
    def __init__(self) -> None:
        self.used: set[tuple[str, str]] = set()

    async def use(self, client_id: str, purpose: str, jti: str, expires_at: datetime) -> bool:
        if (client_id, jti) in self.used:
            return False
        self.used.add((client_id, jti))
        return True


class FakeKeys:
    async def keys(self, client: Client, *, refresh: bool = False) -> KeySet:
        return KeySet([ECKey.import_key(SIGNING_KEY.as_dict(private=False))])


def authenticator(client_secrets: FakeClientSecrets | None = None, jtis: FakeJtis | None = None,
                  clients: FakeClients | None = None) -> ClientAuthenticator:
    return ClientAuthenticator(clients=clients or FakeClients(), client_secrets=client_secrets or FakeClientSecrets(),
                               jtis=jtis or FakeJtis(), keys=FakeKeys(), secrets=SECRETS, clock=FrozenClock(NOW),
                               issuer=ISSUER, certificates=CertificateSource())


def basic(client_id: str, secret: str = SECRET) -> dict[str, str]:
    raw = f"{client_id.replace(' ', '+')}:{secret.replace('%', '%25').replace('+', '%2B').replace(' ', '+')}"
    return {"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()}


def assertion(client_id: str, *, alg: str = "ES256", jti: str = "jti-1", **changes: Any) -> str:
    claims: dict[str, Any] = {"iss": client_id, "sub": client_id, "aud": f"{ISSUER}/token", "jti": jti,
                              "exp": int(NOW.timestamp()) + 60}
    header: dict[str, Any] = {"alg": alg}
    header.update(changes.pop("header", {}))
    claims.update(changes)
    key = OctKey.import_key(SECRET.encode()) if alg.startswith("HS") else SIGNING_KEY
    return jwt.encode(header, {k: v for k, v in claims.items() if v is not None}, key)


def by_assertion(token: str, **form: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": token, **form}


async def authenticate(headers: dict[str, str], form: dict[str, str], auth: ClientAuthenticator | None = None) -> str:
    """The authenticated client's id, or the error code and description the caller gets."""
    request = make_mocked_request("POST", "/token", headers=headers)
    try:
        client = await (auth or authenticator()).authenticate(request, Form(form), ServerConfig())
    except ProtocolError as error:
        return f"{error.error}: {error.description}"
    return client.client_id


FAILED = f"invalid_client: {GENERIC_FAILURE}"


@pytest.mark.parametrize(("situation", "headers", "form", "expected"), [
    ("client_secret_basic", basic("basic"), {}, "basic"),
    ("client_secret_basic with the client_id repeated", basic("basic"), {"client_id": "basic"}, "basic"),
    ("client_secret_post", {}, {"client_id": "post", "client_secret": SECRET}, "post"),
    ("client_secret_jwt", {}, by_assertion(assertion("hmac", alg="HS256")), "hmac"),
    ("private_key_jwt", {}, by_assertion(assertion("keys"), client_id="keys"), "keys"),
    ("a wrong secret", basic("basic", "wrong"), {}, FAILED),
    ("an unknown client", basic("nobody"), {}, FAILED),
    ("a client without a secret", basic("no-secret"), {}, FAILED),
    ("another method than registered", basic("post"), {}, FAILED),
    ("a secret for a private_key_jwt client", {}, {"client_id": "keys", "client_secret": SECRET}, FAILED),
    ("no credentials", {}, {}, FAILED),
    ("a client_id alone, for a client without a certificate method", {}, {"client_id": "basic"}, FAILED),
    ("an unsupported Authorization scheme", {"Authorization": "Bearer x"}, {}, FAILED),
    ("malformed Basic credentials", {"Authorization": "Basic !!"}, {}, FAILED),
    ("two methods at once", basic("basic"), {"client_secret": SECRET}, "invalid_request: use exactly one client "
     "authentication method"),
    ("Basic for one client, client_id of another", basic("basic"), {"client_id": "post"},
     "invalid_request: client_id does not match the authenticated client"),
    ("an assertion of another type", {}, {"client_assertion_type": "x", "client_assertion": assertion("keys")},
     FAILED),
    ("an assertion whose iss is not the client_id", {}, by_assertion(assertion("keys"), client_id="hmac"), FAILED),
    ("an assertion for another audience", {}, by_assertion(assertion("keys", aud="https://elsewhere")), FAILED),
    ("an assertion whose sub is not the client", {}, by_assertion(assertion("keys", sub="hmac")), FAILED),
    ("an assertion without exp", {}, by_assertion(assertion("keys", exp=None)), FAILED),
    ("an assertion living too long", {}, by_assertion(assertion("keys", exp=int(NOW.timestamp()) + 3600)), FAILED),
    ("an assertion without jti", {}, by_assertion(assertion("keys", jti=None)), FAILED),
    ("a request object as an assertion", {},
     by_assertion(assertion("keys", header={"typ": "oauth-authz-req+jwt"})), FAILED),
    ("an assertion carrying request parameters", {}, by_assertion(assertion("keys", login_hint="alice")), FAILED),
    ("an HMAC assertion for a private_key_jwt client", {}, by_assertion(assertion("keys", alg="HS256")), FAILED),
])
async def test_which_credentials_authenticate_a_client(situation: str, headers: dict[str, str],
                                                       form: dict[str, str], expected: str) -> None:
    assert await authenticate(headers, form) == expected


async def test_an_assertion_is_single_use() -> None:
    auth = authenticator(jtis=FakeJtis())
    token = assertion("keys", jti="once")
    assert await authenticate({}, by_assertion(token), auth) == "keys"
    assert await authenticate({}, by_assertion(token), auth) == FAILED


async def test_a_secret_hashed_under_an_older_master_key_is_hashed_anew() -> None:
    client_secrets = FakeClientSecrets()
    assert await authenticate(basic("rotated"), {}, authenticator(client_secrets)) == "rotated"
    assert client_secrets.stored == {"rotated": SECRETS.hash(SECRET)}
    assert await authenticate(basic("basic"), {}, authenticator(client_secrets)) == "basic"
    assert list(client_secrets.stored) == ["rotated"]  # current hashes are left alone


async def test_the_registered_signing_alg_is_the_only_one_accepted() -> None:
    pinned = FakeClients(replace(CLIENTS["keys"], client_id="pinned", token_endpoint_auth_signing_alg="PS256"))
    assert await authenticate({}, by_assertion(assertion("pinned")), authenticator(clients=pinned)) == FAILED
