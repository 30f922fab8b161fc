"""Who a /bc-authorize request is for (services/gateway/hints.py), as tables: login_hint,
login_hint_token and id_token_hint against a user directory and key sources in memory. Keys
are real (joserfc); nothing touches Postgres or the network."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

from services.gateway import hints
from services.gateway.client_keys import ClientKeysUnavailable
from shared.config.model import ServerConfig
from shared.errors import ExpiredLoginHintToken, InvalidRequest, ProtocolError, UnknownUserId
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.users import User
from tests.support.jwt_client import ClientSigner, hmac_sign, unsigned

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ISSUER = "https://ciba.example"
CONFIG = ServerConfig()

ALICE = User(sub="u-alice", username="alice", email="alice@example.org", phone_number="+4915100000001",
             password_hash="x")
BOB = User(sub="u-bob", username="bob", email="bob@example.org", phone_number="+4915100000002", password_hash="x")
# Two people who share a phone: a hint by that number names nobody in particular.
CAROL = User(sub="u-carol", username="carol", email="carol@example.org", phone_number="+4915100000009",
             password_hash="x")
DAVE = User(sub="u-dave", username="dave", email="dave@example.org", phone_number="+4915100000009",
            password_hash="x")

CLIENT = Client(client_id="c1", client_secret_hash=None, client_name="Shop",
                token_endpoint_auth_method="private_key_jwt", grant_types=[CIBA_GRANT], scope=["openid"],
                backchannel_token_delivery_mode="poll",
                backchannel_client_notification_endpoint=None, backchannel_authentication_request_signing_alg=None,
                backchannel_user_code_parameter=False, id_token_signed_response_alg="ES256", metadata={},
                created_at=NOW)
SIGNER = ClientSigner("ES256")
SERVER_KEY = ECKey.generate_key("P-256", auto_kid=True)
FORGER_KEY = ECKey.generate_key("P-256", auto_kid=True)


@dataclass
class Directory:
    """hints.UserDirectory over a list, matching as the Postgres queries do (at most two)."""

    people: list[User]

    async def by_login_hint(self, value: str) -> list[User]:
        return [u for u in self.people if value in (u.username, u.email, u.phone_number)][:2]

    async def by_claim(self, claim: str, value: str) -> list[User]:
        return [u for u in self.people if getattr(u, claim, None) == value][:2]

    async def by_sub(self, sub: str) -> User | None:
        return next((u for u in self.people if u.sub == sub), None)


class ClientKeys:
    """services.gateway.client_keys.KeySource: the client's registered set, or none at all."""

    def __init__(self, jwks: dict[str, Any] | None) -> None:
        self._jwks = jwks

    async def keys(self, client: Client, *, refresh: bool = False) -> KeySet:
        if self._jwks is None:
            raise ClientKeysUnavailable("the client registered neither jwks nor jwks_uri")
        return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]


@dataclass
class ServerKeys:
    verify_set: KeySet


async def outcome(call: Awaitable[User]) -> object:
    """Whom the hint names (their sub), or the spec error code it raises."""
    try:
        return (await call).sub
    except ProtocolError as error:
        return error.error


def resolve(name: str, value: str, *, config: ServerConfig = CONFIG,
            client_keys: ClientKeys | None = None) -> Awaitable[User]:
    return hints.resolve_user(CLIENT, name, value, users=Directory([ALICE, BOB, CAROL, DAVE]),
                              client_keys=client_keys or ClientKeys(SIGNER.jwks),
                              server_keys=ServerKeys(KeySet([SERVER_KEY])), issuer=ISSUER, config=config, now=NOW)


# login_hint


@pytest.mark.parametrize(("hint", "expected"), [
    ("alice", ALICE.sub),
    ("bob@example.org", BOB.sub),
    ("+4915100000001", ALICE.sub),
    ("nobody", UnknownUserId.error),
    ("+4915100000009", UnknownUserId.error),  # Carol and Dave: not exactly one
])
async def test_a_login_hint_names_exactly_one_user_or_nobody(hint, expected) -> None:
    assert await outcome(resolve("login_hint", hint)) == expected


# login_hint_token


def hint_token(subject: object, *, exp: float | None = NOW.timestamp() + 300) -> dict[str, Any]:
    claims: dict[str, Any] = {"subject": subject}
    if exp is not None:
        claims["exp"] = int(exp)
    return claims


LOGIN_HINT_TOKENS = {
    "email": (hint_token({"subject_type": "email", "email": ALICE.email}), ALICE.sub),
    "username": (hint_token({"subject_type": "username", "username": "bob"}), BOB.sub),
    "phone_number": (hint_token({"subject_type": "phone_number", "phone_number": ALICE.phone_number}), ALICE.sub),
    "phone, an alias of phone_number": (hint_token({"subject_type": "phone", "phone": BOB.phone_number}), BOB.sub),
    "format instead of subject_type": (hint_token({"format": "email", "email": BOB.email}), BOB.sub),
    "no exp": (hint_token({"subject_type": "email", "email": ALICE.email}, exp=None), ALICE.sub),
    "expired": (hint_token({"subject_type": "email", "email": ALICE.email}, exp=NOW.timestamp() - 1),
                ExpiredLoginHintToken.error),
    "expires now": (hint_token({"subject_type": "email", "email": ALICE.email}, exp=NOW.timestamp()),
                    ExpiredLoginHintToken.error),
    "no subject": ({"sub": ALICE.email}, InvalidRequest.error),
    "subject is a string": (hint_token(ALICE.email), InvalidRequest.error),
    "subject_type not a string": (hint_token({"subject_type": ["email"], "email": ALICE.email}),
                                  InvalidRequest.error),
    "subject_type not allowed": (hint_token({"subject_type": "sub", "sub": ALICE.sub}), InvalidRequest.error),
    "no value": (hint_token({"subject_type": "email"}), InvalidRequest.error),
    "nobody": (hint_token({"subject_type": "email", "email": "nobody@example.org"}), UnknownUserId.error),
    "two people": (hint_token({"subject_type": "phone", "phone": CAROL.phone_number}), UnknownUserId.error),
}


@pytest.mark.parametrize("case", LOGIN_HINT_TOKENS)
async def test_a_login_hint_token_signed_by_the_client(case) -> None:
    claims, expected = LOGIN_HINT_TOKENS[case]
    assert await outcome(resolve("login_hint_token", SIGNER.sign(claims))) == expected


SUBJECT = hint_token({"subject_type": "email", "email": ALICE.email})


@pytest.mark.parametrize(("case", "token", "client_keys"), [
    ("unsigned", unsigned(SUBJECT), None),
    ("another key", ClientSigner("ES256").sign(SUBJECT, kid=False), None),
    ("not a JWT", "not-a-jwt", None),
    ("HS256, a shared secret", hmac_sign("a-shared-secret", SUBJECT), None),
    ("the client has no keys", SIGNER.sign(SUBJECT), ClientKeys(None)),
])
async def test_a_login_hint_token_the_client_did_not_sign_is_invalid_request(case, token, client_keys) -> None:
    assert await outcome(resolve("login_hint_token", token, client_keys=client_keys)) == InvalidRequest.error


async def test_a_login_hint_token_may_use_only_the_claims_the_operator_allows() -> None:
    config = ServerConfig(backchannelLoginHintClaims=["email"])
    by_username = SIGNER.sign(hint_token({"subject_type": "username", "username": "alice"}))
    by_email = SIGNER.sign(hint_token({"subject_type": "email", "email": ALICE.email}))
    assert await outcome(resolve("login_hint_token", by_username, config=config)) == InvalidRequest.error
    assert await outcome(resolve("login_hint_token", by_email, config=config)) == ALICE.sub


# id_token_hint


def id_token(key: ECKey = SERVER_KEY, **overrides: object) -> str:
    claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT.client_id, "sub": ALICE.sub,
                              "iat": int(NOW.timestamp()) - 60, "exp": int(NOW.timestamp()) + 240}
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


@pytest.mark.parametrize(("case", "token", "expected"), [
    ("ours, for this client", id_token(), ALICE.sub),
    ("expired long ago", id_token(exp=int(NOW.timestamp()) - 7200), ALICE.sub),  # CIBA Core 7.1 allows it
    ("aud a list naming the client", id_token(aud=["other", CLIENT.client_id]), ALICE.sub),
    ("for a user who is gone", id_token(sub="u-gone"), UnknownUserId.error),
    ("signed by another key", id_token(FORGER_KEY), InvalidRequest.error),
    ("another issuer", id_token(iss="https://other.example"), InvalidRequest.error),
    ("for another client", id_token(aud="other"), InvalidRequest.error),
    ("no sub", id_token(sub=None), InvalidRequest.error),
    ("unsigned", unsigned({"iss": ISSUER, "aud": CLIENT.client_id, "sub": ALICE.sub}), InvalidRequest.error),
])
async def test_an_id_token_hint_must_be_one_we_issued_to_this_client(case, token, expected) -> None:
    assert await outcome(resolve("id_token_hint", token)) == expected

