"""Who the request is for (CIBA Core 7.1): exactly one of login_hint, login_hint_token and
id_token_hint. Whatever the hint, a request that does not identify exactly one user gets
unknown_user_id and nothing more, so the answer never tells whether a user exists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from joserfc.jwk import KeySet

from services.gateway import jwt_checks
from services.gateway.client_keys import KeySource, verify_signed_by_client
from services.gateway.forms import Form
from shared.config.model import ServerConfig
from shared.domain.client_metadata import ASYMMETRIC_ALGS
from shared.errors import Errors, ExpiredLoginHintToken, InvalidRequest, UnknownUserId
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.repositories.clients import Client
from shared.repositories.users import User

HINTS = ("login_hint", "login_hint_token", "id_token_hint")
# Names a login_hint_token's subject may use for a directory attribute.
SUBJECT_TYPE_ALIASES = {"phone": "phone_number"}
ERRORS: Errors = (ExpiredLoginHintToken, InvalidRequest, UnknownUserId)


class UserDirectory(Protocol):
    """The active users, as a hint finds them; each search returns at most two (enough to
    tell "exactly one" from "ambiguous")."""

    async def by_login_hint(self, value: str) -> list[User]: ...

    async def by_claim(self, claim: str, value: str) -> list[User]: ...

    async def by_sub(self, sub: str) -> User | None: ...


class ServerKeys(Protocol):
    """The keys this server's id_tokens verify with (shared.jose.keys.KeyRing)."""

    @property
    def verify_set(self) -> KeySet: ...


def choose_hint(params: Form) -> tuple[str, str]:
    present = params.present(HINTS)
    if len(present) != 1:
        raise InvalidRequest("exactly one of login_hint, login_hint_token and id_token_hint is required")
    return present[0], params.require(present[0])


async def resolve_user(client: Client, name: str, value: str, *, users: UserDirectory, client_keys: KeySource,
                       server_keys: ServerKeys, issuer: str, config: ServerConfig, now: datetime) -> User:
    if name == "login_hint":
        matches = await users.by_login_hint(value)
    elif name == "login_hint_token":
        claim, wanted = await _login_hint_token_subject(client_keys, client, value, config=config, now=now)
        matches = await users.by_claim(claim, wanted)
    else:
        sub = _id_token_hint_subject(server_keys, issuer, client, value)
        user = await users.by_sub(sub)
        matches = [user] if user else []
    if len(matches) != 1:
        raise UnknownUserId("the hint does not identify a user")
    return matches[0]


async def _login_hint_token_subject(client_keys: KeySource, client: Client, token: str, *,
                                    config: ServerConfig, now: datetime) -> tuple[str, str]:
    """A JWT signed with a key of the client; its ``subject`` claim is
    ``{"subject_type": T, T: value}`` with T one of backchannelLoginHintClaims."""
    try:
        claims = await verify_signed_by_client(client_keys, client, token, list(ASYMMETRIC_ALGS))
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"login_hint_token: {exc}") from None
    exp = claims.get("exp")
    if isinstance(exp, int | float) and not isinstance(exp, bool) and exp <= now.timestamp():
        raise ExpiredLoginHintToken("the login_hint_token has expired")
    subject: Any = claims.get("subject")
    if not isinstance(subject, dict):
        raise InvalidRequest('login_hint_token: the subject claim must be {"subject_type": ..., ...}')
    subject_type = subject.get("subject_type") or subject.get("format")
    if not isinstance(subject_type, str):
        raise InvalidRequest("login_hint_token: the subject's subject_type must be a string")
    claim = SUBJECT_TYPE_ALIASES.get(subject_type, subject_type)
    if claim not in config.backchannelLoginHintClaims:
        allowed = ", ".join(config.backchannelLoginHintClaims)
        raise InvalidRequest(f"login_hint_token: subject_type must be one of {allowed}")
    value = subject.get(subject_type)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"login_hint_token: the subject has no {subject_type} value")
    return claim, value


def _id_token_hint_subject(server_keys: ServerKeys, issuer: str, client: Client, token: str) -> str:
    """An id_token this server issued to this client; it may have expired (CIBA Core 7.1)."""
    try:
        claims = jwt_checks.verify(token, server_keys.verify_set, list(SUPPORTED_SIGNING_ALGS))
    except jwt_checks.JwtRejected as exc:
        raise InvalidRequest(f"id_token_hint: {exc}") from None
    if claims.get("iss") != issuer:
        raise InvalidRequest("id_token_hint was not issued by this server")
    aud = claims.get("aud")
    if client.client_id not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidRequest("id_token_hint was not issued to this client")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise InvalidRequest("id_token_hint has no sub")
    return sub
