"""/introspect's rules (RFC 7662): who may learn about a token, and what an active token's
description says; everything else is {"active": false} and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from services.gateway.endpoints.introspection import describe
from shared.config.model import ServerConfig
from tests.unit.issued_tokens import ISSUER, NOW, SECRETS, FakeTokens, client, issue, keyring

OWNER, OTHER, API = "owner", "other", "resource-api"
WITH_API = ServerConfig(introspectionResourceServers=[API])


async def _describe(tokens: FakeTokens, token: str, asker: str = OWNER, config: ServerConfig = WITH_API,
                    refresh_first: bool = False) -> dict:
    return await describe(tokens, keyring(), SECRETS, config, client(asker), token, issuer=ISSUER,
                          refresh_first=refresh_first, now=NOW)


def _access(**fields) -> Callable[[FakeTokens], str]:
    return lambda tokens: issue(tokens, OWNER, **fields)[0]


def _refresh(**fields) -> Callable[[FakeTokens], str]:
    return lambda tokens: issue(tokens, OWNER, refresh_fields=fields)[1]


@pytest.mark.parametrize(("token", "asker", "config", "active"), [
    (_access(), OWNER, WITH_API, True),
    (_refresh(), OWNER, WITH_API, True),
    (_access(), OTHER, WITH_API, False),
    (_refresh(), OTHER, WITH_API, False),
    (_access(), API, WITH_API, True),
    (_refresh(), API, WITH_API, True),
    (_access(), API, ServerConfig(), False),
    (_access(access_lifetime=-30), OWNER, WITH_API, False),
    (_access(revoked_at=NOW - timedelta(seconds=1)), OWNER, WITH_API, False),
    (_refresh(revoked_at=NOW - timedelta(seconds=1)), OWNER, WITH_API, False),
    (_refresh(used_at=NOW - timedelta(seconds=1)), OWNER, WITH_API, False),
    (_refresh(expires_at=NOW), OWNER, WITH_API, False),
    (lambda tokens: "no-such-token", OWNER, WITH_API, False),
    (lambda tokens: "not.a.jwt", OWNER, WITH_API, False),
], ids=["own access", "own refresh", "other's access", "other's refresh", "listed API's access",
        "listed API's refresh", "unlisted API", "expired access", "revoked access", "revoked refresh",
        "used refresh", "expired refresh", "unknown", "malformed jwt"])
async def test_who_learns_about_which_token(token: Callable[[FakeTokens], str], asker: str, config: ServerConfig,
                                            active: bool) -> None:
    tokens = FakeTokens()
    described = await _describe(tokens, token(tokens), asker, config)
    assert described["active"] is active
    if not active:
        assert described == {"active": False}  # and nothing more (RFC 7662 2.2)


@pytest.mark.parametrize("refresh_first", [False, True])
async def test_the_hint_only_changes_the_order(refresh_first: bool) -> None:
    tokens = FakeTokens()
    access, refresh = issue(tokens, OWNER)
    assert (await _describe(tokens, access, refresh_first=refresh_first))["token_type"] == "Bearer"
    assert "token_type" not in await _describe(tokens, refresh, refresh_first=refresh_first)


async def test_an_active_access_token_is_described_from_its_claims_and_record() -> None:
    tokens = FakeTokens()
    access, _ = issue(tokens, OWNER, authorization_details=[{"type": "payment_initiation"}])
    [record] = [r for r in tokens.records.values() if r.kind == "access"]
    assert await _describe(tokens, access) == {
        "active": True, "scope": "openid email", "client_id": OWNER, "sub": "user-1", "iss": ISSUER,
        "iat": int(record.issued_at.timestamp()), "exp": int(record.expires_at.timestamp()), "acr": "pwd",
        "auth_time": int(record.auth_time.timestamp()), "authorization_details": [{"type": "payment_initiation"}],
        "aud": ISSUER, "jti": str(record.id), "token_type": "Bearer"}


async def test_an_active_refresh_token_is_described_from_its_record() -> None:
    tokens = FakeTokens()
    _, refresh = issue(tokens, OWNER, refresh_fields={"acr": None, "auth_time": None})
    [record] = [r for r in tokens.records.values() if r.kind == "refresh"]
    assert await _describe(tokens, refresh, refresh_first=True) == {
        "active": True, "scope": "openid email", "client_id": OWNER, "sub": "user-1", "iss": ISSUER,
        "iat": int(record.issued_at.timestamp()), "exp": int(record.expires_at.timestamp())}


@pytest.mark.parametrize(("cnf", "token_type"), [
    ({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, "DPoP"),
    ({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, "Bearer"),
])
async def test_a_bound_access_token_says_what_it_is_bound_to(cnf: dict, token_type: str) -> None:
    tokens = FakeTokens()
    access, _ = issue(tokens, OWNER, cnf=cnf)
    described = await _describe(tokens, access)
    assert (described["token_type"], described["cnf"]) == (token_type, cnf)
