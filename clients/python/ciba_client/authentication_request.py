"""The authentication request's parameters and answer (CIBA Core 7.1, 7.1.1, 7.3), checked
on the client's side so a mistake is a ValueError here rather than a round trip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ciba_client.errors import UnexpectedResponse
from ciba_client.keys import ClientKey, new_jti, now

REQUEST_OBJECT_LIFETIME_SEC = 300
REQUEST_OBJECT_TYP = "oauth-authz-req+jwt"  # RFC 9101 10.8: typed, so it is never taken for another JWT


def space_separated(value: str | Sequence[str]) -> str:
    return value if isinstance(value, str) else " ".join(value)


def authentication_parameters(*, scope: str | Sequence[str], login_hint: str | None, login_hint_token: str | None,
                               id_token_hint: str | None, binding_message: str | None, user_code: str | None,
                               requested_expiry: int | None, acr_values: str | Sequence[str] | None,
                               ui_locales: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    hints = {"login_hint": login_hint, "login_hint_token": login_hint_token, "id_token_hint": id_token_hint}
    given = {name: value for name, value in hints.items() if value is not None}
    if len(given) != 1:
        raise ValueError("give exactly one of login_hint, login_hint_token and id_token_hint (CIBA Core 7.1)")
    if requested_expiry is not None and (isinstance(requested_expiry, bool) or requested_expiry <= 0):
        raise ValueError("requested_expiry must be a positive number of seconds")
    optional = {"binding_message": binding_message, "user_code": user_code,
                "requested_expiry": None if requested_expiry is None else str(int(requested_expiry)),
                "acr_values": None if acr_values is None else space_separated(acr_values),
                "ui_locales": ui_locales}
    params = {"scope": space_separated(scope), **given, **{k: v for k, v in optional.items() if v is not None}}
    params.update(extra or {})
    return params


def authentication_response(body: Mapping[str, Any]) -> tuple[str, int, int | None]:
    """CIBA Core 7.3: auth_req_id, expires_in, and interval (poll and ping)."""
    auth_req_id, expires_in, interval = body.get("auth_req_id"), body.get("expires_in"), body.get("interval")
    if not isinstance(auth_req_id, str) or not auth_req_id:
        raise UnexpectedResponse("the authentication response has no auth_req_id")
    if isinstance(expires_in, bool) or not isinstance(expires_in, int) or expires_in <= 0:
        raise UnexpectedResponse("the authentication response has no valid expires_in")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 0):
        raise UnexpectedResponse("the authentication response's interval is not a number of seconds")
    return auth_req_id, expires_in, interval


def request_object(params: Mapping[str, str], *, key: ClientKey, client_id: str, issuer: str) -> str:
    """CIBA Core 7.1.1: the parameters as the claims of a JWT signed with the client's key,
    with iss (the client), aud (the issuer), iat, nbf, exp and a single-use jti."""
    issued = now()
    claims: dict[str, Any] = {**params, "iss": client_id, "aud": issuer, "iat": issued, "nbf": issued,
                              "exp": issued + REQUEST_OBJECT_LIFETIME_SEC, "jti": new_jti()}
    if "requested_expiry" in claims:  # a JSON number inside the JWT
        claims["requested_expiry"] = int(claims["requested_expiry"])
    return key.sign(claims, typ=REQUEST_OBJECT_TYP)
