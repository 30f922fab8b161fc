"""Protocol errors: one class per error code of OAuth 2.0 (RFC 6749 5.2), CIBA Core (sections
11 and 13), RFC 7591 (3.2.2) and RFC 6750 (3.1).

Handlers raise them (``raise UnknownUserId("no user matches login_hint")``); one middleware
renders them. A description is for the client: it never carries internal detail.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, Field, StringConstraints
from pydantic.config import JsonDict
from pydantic.json_schema import SkipJsonSchema

# RFC 6749 5.2: error and error_description are limited to %x20-21 / %x23-5B / %x5D-7E.
_ALLOWED = r"\x20\x21\x23-\x5b\x5d-\x7e"
_NOT_ALLOWED_IN_DESCRIPTION = re.compile(f"[^{_ALLOWED}]")


def _without_default(schema: JsonDict) -> None:
    schema.pop("default", None)  # absent, never null, on the wire


class ErrorBody(BaseModel):
    """An OAuth 2.0 error response (RFC 6749 5.2, CIBA Core 11 and 13, RFC 7591 3.2.2, RFC 6750 3.1)."""

    error: Annotated[str, StringConstraints(pattern=f"^[{_ALLOWED}]+$")] = Field(description="The error code.")
    error_description: Annotated[str, StringConstraints(pattern=f"^[{_ALLOWED}]*$")] | SkipJsonSchema[None] = Field(
        default=None, json_schema_extra=_without_default,
        description="Human-readable detail, in RFC 6749's character set (any other character is sent as ?).")


class ProtocolError(Exception):
    error: ClassVar[str] = "invalid_request"
    status: int = 400

    def __init__(self, description: str | None = None, *, status: int | None = None) -> None:
        super().__init__(description or self.error)
        self.description = description
        if status is not None:
            self.status = status

    @classmethod
    def at(cls, status: int) -> Answer:
        """This error with another status than its class's, for ERRORS: ``SlowDown.at(429)``."""
        return Answer(cls, status)

    def body(self) -> dict[str, Any]:
        """ErrorBody as a dict, unvalidated: every pending poll is an error (hot path)."""
        body: dict[str, Any] = {"error": self.error}
        if self.description:
            body["error_description"] = _NOT_ALLOWED_IN_DESCRIPTION.sub("?", self.description)
        return body

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequest(ProtocolError):
    """The request is missing a parameter, repeats one, or is otherwise malformed."""

    error = "invalid_request"


class InvalidClient(ProtocolError):
    """Client authentication failed (RFC 6749 5.2): 401 with a WWW-Authenticate challenge."""

    error = "invalid_client"
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Basic realm="ciba", error="invalid_client"'}


class InvalidGrant(ProtocolError):
    """The auth_req_id or refresh token is unknown, used, or issued to another client."""

    error = "invalid_grant"


class UnauthorizedClient(ProtocolError):
    """The client may not use this grant type or delivery mode."""

    error = "unauthorized_client"


class UnsupportedGrantType(ProtocolError):
    error = "unsupported_grant_type"


class InvalidScope(ProtocolError):
    error = "invalid_scope"


class AccessDenied(ProtocolError):
    """The end-user denied the request (400 at /token, CIBA 11) or the server refused it
    (403 at /bc-authorize, CIBA 13)."""

    error = "access_denied"


class AuthorizationPending(ProtocolError):
    """CIBA 11: the end-user has not yet been authenticated."""

    error = "authorization_pending"


class SlowDown(ProtocolError):
    """CIBA 11: polled faster than the interval; the interval grows by 5 s for this request.

    Also the answer of a rate limit at /bc-authorize (429 with Retry-After)."""

    error = "slow_down"

    def __init__(self, description: str | None = None, *, status: int | None = None,
                 retry_after: int | None = None) -> None:
        super().__init__(description, status=status)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


class ExpiredToken(ProtocolError):
    """CIBA 11: the auth_req_id has expired."""

    error = "expired_token"


class TransactionFailed(ProtocolError):
    """CIBA 11: the request could not be carried through (e.g. the user was never reached)."""

    error = "transaction_failed"


class UnknownUserId(ProtocolError):
    """CIBA 13: the hint does not identify exactly one user."""

    error = "unknown_user_id"


class ExpiredLoginHintToken(ProtocolError):
    error = "expired_login_hint_token"


class MissingUserCode(ProtocolError):
    error = "missing_user_code"


class InvalidUserCode(ProtocolError):
    error = "invalid_user_code"


class InvalidBindingMessage(ProtocolError):
    error = "invalid_binding_message"


class InvalidAuthorizationDetails(ProtocolError):
    """RFC 9396 5: authorization_details is malformed, or names a type the server does not
    support or the client did not register."""

    error = "invalid_authorization_details"


class InvalidClientMetadata(ProtocolError):
    """RFC 7591 3.2.2."""

    error = "invalid_client_metadata"


class InvalidToken(ProtocolError):
    """RFC 6750 3.1: the access token is missing, expired, revoked or malformed."""

    error = "invalid_token"
    status = 401

    def __init__(self, description: str | None = None, *, status: int | None = None,
                 credentials_sent: bool = True) -> None:
        super().__init__(description, status=status)
        self.credentials_sent = credentials_sent

    def headers(self) -> dict[str, str]:
        # RFC 6750 3.1: a request without credentials gets the challenge without an error code.
        if not self.credentials_sent:
            return {"WWW-Authenticate": 'Bearer realm="ciba"'}
        return {"WWW-Authenticate": 'Bearer realm="ciba", error="invalid_token"'}


def dpop_challenge(error: str, algs: str) -> str:
    """RFC 9449 7.1: the DPoP challenge of a resource, with the proof algorithms it accepts."""
    return f'DPoP realm="ciba", error="{error}", algs="{algs}"'


class InvalidDpopProof(ProtocolError):
    """RFC 9449 4.3 and 5: the DPoP proof is missing, malformed or not for this request. 400 at
    /token; at a resource (``resource_algs``: the algorithms it accepts) 401 with a DPoP
    challenge (RFC 9449 7.1)."""

    error = "invalid_dpop_proof"

    def __init__(self, description: str | None = None, *, resource_algs: str | None = None) -> None:
        super().__init__(description, status=401 if resource_algs is not None else None)
        self.resource_algs = resource_algs

    def headers(self) -> dict[str, str]:
        if self.resource_algs is None:
            return {}
        return {"WWW-Authenticate": dpop_challenge(self.error, self.resource_algs)}


class UseDpopNonce(InvalidDpopProof):
    """RFC 9449 8 and 9: the server requires a nonce in the proof; ``DPoP-Nonce`` gives the one to use."""

    error = "use_dpop_nonce"

    def __init__(self, nonce: str, description: str | None = None, *, resource_algs: str | None = None) -> None:
        super().__init__(description, resource_algs=resource_algs)
        self.nonce = nonce

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "DPoP-Nonce": self.nonce}


class InvalidDpopToken(InvalidToken):
    """RFC 9449 7.1: a DPoP-bound token presented without its key (as a Bearer token, or with a
    proof of another key), or an unbound token presented as DPoP: 401 with a DPoP challenge."""

    def __init__(self, description: str | None = None, *, resource_algs: str) -> None:
        super().__init__(description)
        self.resource_algs = resource_algs

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": dpop_challenge(self.error, self.resource_algs)}


class TemporarilyUnavailable(ProtocolError):
    """The server cannot answer right now (its database is unreachable); try again after
    Retry-After seconds (RFC 6749 4.1.2.1 names the code; 503 as HTTP has it)."""

    error = "temporarily_unavailable"
    status = 503

    def __init__(self, description: str | None = None, *, retry_after: int = 2) -> None:
        super().__init__(description)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class NotFound(ProtocolError):
    """No such resource (an unknown route, or an unknown server property in the config API)."""

    error = "not_found"
    status = 404


class MethodNotAllowed(InvalidRequest):
    """The route exists, but not for this method; Allow lists the ones it has."""

    status = 405

    def __init__(self, allowed: str) -> None:
        super().__init__("this method is not allowed here")
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allowed}


class ServerError(ProtocolError):
    """An unexpected failure; the detail is in the server's log, never in the response."""

    error = "server_error"
    status = 500


@dataclass(frozen=True)
class Answer:
    """A protocol error as a route answers it: its class, and the HTTP status."""

    error_class: type[ProtocolError]
    status: int

    @property
    def code(self) -> str:
        return self.error_class.error


# A module's ERRORS: the errors its functions can raise, an Answer where a raise sets the status.
Errors = tuple[type[ProtocolError] | Answer, ...]


def answers(errors: Iterable[type[ProtocolError] | Answer]) -> list[Answer]:
    """``errors`` as Answers, each once, in order."""
    return list(dict.fromkeys(entry if isinstance(entry, Answer) else Answer(entry, entry.status) for entry in errors))
