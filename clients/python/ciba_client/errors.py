"""Errors as typed exceptions, one class per error code a CIBA provider answers with.

The codes are those of OAuth 2.0 (RFC 6749 5.2), CIBA Core (section 11 at the token endpoint,
section 13 at the backchannel authentication endpoint, 10.3.2 in a push), RFC 6750 3.1 and
RFC 7591 3.2.2. Catch a class to handle one case (``except AccessDenied``), or ``CibaError``
for all. A code this library does not know becomes a plain ``CibaError`` that still carries it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar


class CibaError(Exception):
    """An error answer from the provider (or, for the library's own classes, a check that
    failed here). ``error`` is the spec's code, ``description`` the provider's
    ``error_description``, ``status`` the HTTP status (None when no HTTP answer was involved)."""

    code: ClassVar[str] = ""

    def __init__(self, description: str | None = None, *, error: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        self.error = error or self.code or "unknown_error"
        self.description = description
        self.status = status
        self.retry_after = retry_after
        super().__init__(f"{self.error}: {description}" if description else self.error)


# RFC 6749 5.2 (token endpoint; the backchannel authentication endpoint reuses them).
class InvalidRequest(CibaError):
    """A parameter is missing, repeated or malformed."""

    code = "invalid_request"


class InvalidClient(CibaError):
    """Client authentication failed (401): a wrong secret or key, or another method than registered."""

    code = "invalid_client"


class InvalidGrant(CibaError):
    """The auth_req_id or refresh token is unknown, already used, revoked, or another client's."""

    code = "invalid_grant"


class UnauthorizedClient(CibaError):
    """The client may not use this grant or delivery mode (e.g. a push client polling /token)."""

    code = "unauthorized_client"


class UnsupportedGrantType(CibaError):
    code = "unsupported_grant_type"


class InvalidScope(CibaError):
    """CIBA Core 13: the scope is invalid, unknown, or lacks ``openid``."""

    code = "invalid_scope"


class AccessDenied(CibaError):
    """The user denied the request (CIBA 11, 10.3.2), or the provider refused it (CIBA 13)."""

    code = "access_denied"


# CIBA Core 11: the token endpoint while the request is under way, and its ends.
class AuthorizationPending(CibaError):
    """The user has not decided yet; poll again after the interval."""

    code = "authorization_pending"


class SlowDown(CibaError):
    """Polled faster than the interval: the interval grows by 5 s for this and every later
    poll (CIBA 11). Also a rate limit at the backchannel endpoint (429, see ``retry_after``)."""

    code = "slow_down"


class ExpiredToken(CibaError):
    """The auth_req_id expired before the user decided (also raised by ``wait`` when
    ``expires_in`` passes by the client's own clock)."""

    code = "expired_token"


class TransactionFailed(CibaError):
    """The provider could not carry the request through (e.g. it could not reach the user)."""

    code = "transaction_failed"


# CIBA Core 13: the backchannel authentication endpoint.
class ExpiredLoginHintToken(CibaError):
    code = "expired_login_hint_token"


class UnknownUserId(CibaError):
    """The hint does not identify exactly one user."""

    code = "unknown_user_id"


class MissingUserCode(CibaError):
    code = "missing_user_code"


class InvalidUserCode(CibaError):
    code = "invalid_user_code"


class InvalidBindingMessage(CibaError):
    code = "invalid_binding_message"


class InvalidAuthorizationDetails(CibaError):
    """RFC 9396 5: authorization_details is malformed, or names a type the provider does not
    support or the client did not register."""

    code = "invalid_authorization_details"


# Other endpoints: userinfo (RFC 6750 3.1), registration (RFC 7591 3.2.2), any (RFC 6749 4.1.2.1).
class InvalidToken(CibaError):
    """The access token is missing, expired, revoked or malformed."""

    code = "invalid_token"


class InvalidClientMetadata(CibaError):
    code = "invalid_client_metadata"


# DPoP (RFC 9449): at the token endpoint (400) and at userinfo (401).
class InvalidDpopProof(CibaError):
    """The DPoP proof is missing (the client registered dpop_bound_access_tokens), malformed,
    replayed, or not for this request."""

    code = "invalid_dpop_proof"


class UseDpopNonce(CibaError):
    """The provider requires a nonce in DPoP proofs: retry with the one its DPoP-Nonce header gave."""

    code = "use_dpop_nonce"


class ServerError(CibaError):
    code = "server_error"


class TemporarilyUnavailable(CibaError):
    """The provider cannot answer now; try again after ``retry_after`` seconds."""

    code = "temporarily_unavailable"


# The library's own checks: not codes a provider sends.
class InvalidIdToken(CibaError):
    """An id_token failed verification here: signature, iss, aud, exp, or a hash binding it to
    the access token, the refresh token or the auth_req_id."""

    code = "invalid_id_token"


class KeysUnavailable(CibaError):
    """The issuer's JWKS could not be fetched or read, so no id_token can be verified now."""

    code = "jwks_unavailable"


class UnexpectedResponse(CibaError):
    """The provider answered with something that is neither a success nor an OAuth error."""

    code = "unexpected_response"


ERRORS: dict[str, type[CibaError]] = {cls.code: cls for cls in (
    InvalidRequest, InvalidClient, InvalidGrant, UnauthorizedClient, UnsupportedGrantType, InvalidScope,
    AccessDenied, AuthorizationPending, SlowDown, ExpiredToken, TransactionFailed, ExpiredLoginHintToken,
    UnknownUserId, MissingUserCode, InvalidUserCode, InvalidBindingMessage, InvalidAuthorizationDetails,
    InvalidToken, InvalidClientMetadata, InvalidDpopProof, UseDpopNonce,
    ServerError, TemporarilyUnavailable,
)}


def error_for(body: Any, *, status: int | None = None, retry_after: float | None = None) -> CibaError:
    """The typed exception for an error object (``{"error": ..., "error_description": ...}``):
    its class by code, the base class for a code not in ``ERRORS``."""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return UnexpectedResponse(f"HTTP {status}: not an OAuth error object", status=status)
    code = body["error"]
    description = body.get("error_description")
    description = description if isinstance(description, str) else None
    cls = ERRORS.get(code, CibaError)
    return cls(description, error=code, status=status, retry_after=retry_after)


def error_from_response(status: int, text: str, headers: Mapping[str, str] | None = None) -> CibaError:
    """The typed exception for an HTTP error answer's body (JSON per RFC 6749 5.2)."""
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    return error_for(body, status=status, retry_after=_retry_after((headers or {}).get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is not used by CIBA providers)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds < 86400 else None
