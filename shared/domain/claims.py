"""Scopes and the user claims they release (OIDC Core 5.4)."""

from __future__ import annotations

from typing import Any

from shared.repositories.users import User

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "given_name", "family_name", "middle_name", "nickname",
                "preferred_username", "profile", "picture", "website", "gender", "birthdate",
                "zoneinfo", "locale", "updated_at"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
}
SCOPES_SUPPORTED = ("openid", "profile", "email", "phone")
CLAIMS_SUPPORTED = tuple(dict.fromkeys(
    ["iss", "aud", "exp", "iat", "auth_time", "acr"]
    + [claim for claims in SCOPE_CLAIMS.values() for claim in claims]
))


def user_claims(user: User, scopes: list[str]) -> dict[str, Any]:
    """The claims of ``user`` that ``scopes`` release; ``sub`` always."""
    available: dict[str, Any] = {
        **user.claims,
        "sub": user.sub,
        "preferred_username": user.username,
    }
    if user.email:
        available["email"] = user.email
        available.setdefault("email_verified", False)
    if user.phone_number:
        available["phone_number"] = user.phone_number
        available.setdefault("phone_number_verified", False)
    released: dict[str, Any] = {"sub": user.sub}
    for scope in scopes:
        for claim in SCOPE_CLAIMS.get(scope, ()):
            if claim in available:
                released[claim] = available[claim]
    return released
