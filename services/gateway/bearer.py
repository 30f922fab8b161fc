"""The bearer token of a request (RFC 6750 2.1: the Authorization header only)."""

from __future__ import annotations

from aiohttp import web

from shared.errors import Errors, InvalidRequest, InvalidToken

ERRORS: Errors = (InvalidRequest, InvalidToken)


def bearer_token(request: web.Request, *, what: str = "access token", schemes: tuple[str, ...] = ("bearer",)) -> str:
    """The token of the Authorization header in one of ``schemes`` (lower case): a resource
    that accepts DPoP-bound tokens (RFC 9449 7.1) takes ("bearer", "dpop"), and checks that
    the scheme fits the token (services/gateway/sender_constraint.py)."""
    header = request.headers.get("Authorization")
    if header is None:
        raise InvalidToken(f"a Bearer {what} is required", credentials_sent=False)
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in schemes or not token.strip():
        raise InvalidToken(f"a Bearer {what} is required")
    if request.query.get("access_token"):
        raise InvalidRequest("send the access token in one place only")
    return token.strip()
