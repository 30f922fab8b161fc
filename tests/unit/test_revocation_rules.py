"""/revoke's outcomes (RFC 7009): a client revokes only its own tokens; a refresh token ends its
whole grant, an access token only itself; anything else is left alone (and answered 200)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from services.gateway.endpoints.revocation import revoke
from tests.unit.issued_tokens import ISSUER, NOW, SECRETS, FakeTokens, client, issue, keyring

OWNER, OTHER = "owner", "other"


async def _revoke(tokens: FakeTokens, token: str, asker: str = OWNER, refresh_first: bool = False) -> str | None:
    return await revoke(tokens, keyring(), SECRETS, client(asker), token, issuer=ISSUER,
                        refresh_first=refresh_first, now=NOW)


def _access(tokens: FakeTokens) -> str:
    return issue(tokens, OWNER)[0]


def _refresh(tokens: FakeTokens) -> str:
    return issue(tokens, OWNER)[1]


@pytest.mark.parametrize(("token", "asker", "refresh_first", "outcome", "revoked"), [
    (_access, OWNER, False, "access", {"access"}),
    (_access, OWNER, True, "access", {"access"}),
    (_refresh, OWNER, False, "refresh", {"access", "refresh"}),
    (_refresh, OWNER, True, "refresh", {"access", "refresh"}),
    (_access, OTHER, False, None, set()),
    (_refresh, OTHER, True, None, set()),
    (lambda tokens: issue(tokens, OWNER, access_lifetime=-30)[0], OWNER, False, None, set()),
    (lambda tokens: "no-such-token", OWNER, False, None, set()),
    (lambda tokens: "not.a.jwt", OWNER, True, None, set()),
], ids=["access", "access, refresh hinted", "refresh ends the grant", "refresh, hinted", "other's access",
        "other's refresh", "expired access", "unknown", "malformed jwt"])
async def test_what_a_revocation_revokes(token: Callable[[FakeTokens], str], asker: str, refresh_first: bool,
                                         outcome: str | None, revoked: set[str]) -> None:
    tokens = FakeTokens()
    assert await _revoke(tokens, token(tokens), asker, refresh_first) == outcome
    assert tokens.revoked() == revoked


async def test_revoking_an_access_token_twice_revokes_nothing_the_second_time() -> None:
    tokens = FakeTokens()
    access = _access(tokens)
    assert [await _revoke(tokens, access), await _revoke(tokens, access)] == ["access", None]


async def test_a_grant_is_revoked_alone() -> None:
    tokens = FakeTokens()
    kept_access, kept_refresh = issue(tokens, OWNER)
    assert await _revoke(tokens, _refresh(tokens)) == "refresh"
    kept = {r.id for r in tokens.records.values() if r.revoked_at is None}
    assert len(kept) == 2
    assert await _revoke(tokens, kept_access) == "access"
    assert await _revoke(tokens, kept_refresh) == "refresh"
