"""The user claims a token or /userinfo releases: only what the scopes allow (OIDC Core 5.4),
and ``sub`` always."""

from __future__ import annotations

import pytest

from shared.domain.claims import CLAIMS_SUPPORTED, SCOPES_SUPPORTED, user_claims
from shared.repositories.users import User

ALICE = User(
    sub="sub-alice",
    username="alice",
    email="alice@example.com",
    phone_number="+15550100",
    password_hash="$argon2id$unused",
    claims={"name": "Alice Liddell", "given_name": "Alice", "locale": "en-GB",
            "email_verified": True, "employee_number": "E-17"},
)
BOB = User(sub="sub-bob", username="bob", email=None, phone_number=None, password_hash="x")


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ([], {"sub": "sub-alice"}),
        (["openid"], {"sub": "sub-alice"}),
        (["openid", "email"], {"sub": "sub-alice", "email": "alice@example.com", "email_verified": True}),
        (["openid", "phone"], {"sub": "sub-alice", "phone_number": "+15550100",
                               "phone_number_verified": False}),
        (["openid", "profile"], {"sub": "sub-alice", "name": "Alice Liddell", "given_name": "Alice",
                                 "locale": "en-GB", "preferred_username": "alice"}),
        (["openid", "offline_access", "made-up"], {"sub": "sub-alice"}),
    ],
)
def test_user_claims_releases_only_what_the_scopes_allow(scopes, expected):
    assert user_claims(ALICE, scopes) == expected


def test_all_scopes_together_release_the_union():
    released = user_claims(ALICE, ["openid", "profile", "email", "phone"])

    assert released == {
        "sub": "sub-alice", "name": "Alice Liddell", "given_name": "Alice", "locale": "en-GB",
        "preferred_username": "alice", "email": "alice@example.com", "email_verified": True,
        "phone_number": "+15550100", "phone_number_verified": False,
    }


def test_claims_no_scope_covers_are_never_released():
    released = user_claims(ALICE, list(SCOPES_SUPPORTED))

    assert "employee_number" not in released
    assert "password_hash" not in released


def test_sub_is_the_users_sub_whatever_the_stored_claims_say():
    user = User(sub="real-sub", username="mallory", email=None, phone_number=None, password_hash="x",
                claims={"sub": "forged-sub"})

    assert user_claims(user, ["openid", "profile"])["sub"] == "real-sub"


def test_user_without_email_or_phone_releases_no_email_or_phone_claims():
    assert user_claims(BOB, ["openid", "email", "phone"]) == {"sub": "sub-bob"}


def test_released_claims_are_all_advertised_in_discovery():
    released = user_claims(ALICE, list(SCOPES_SUPPORTED))

    assert set(released) <= set(CLAIMS_SUPPORTED)
