"""The error responses of an operation, built from its endpoint module's ERRORS.

Each status the endpoint can answer with gets one response: the Error body whose ``error`` is
one of that status's codes, with the headers such an answer carries. Every operation also
gets the answers the middleware gives any route (:data:`COMMON`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from services.gateway import middleware
from shared.errors import Answer, NotFound, ProtocolError, UseDpopNonce, answers

JSON = "application/json"

# What the middleware answers on any route: a body too large or not readable, a method the
# route does not take, the database unreachable, the password checks busy, a failure. An
# unknown path's not_found belongs to no operation.
COMMON = tuple(answer for answer in answers(middleware.ERRORS) if answer.error_class is not NotFound)

_DESCRIPTIONS = {
    400: "The request is not valid; error says how.",
    401: "Authentication failed; WWW-Authenticate carries the challenge.",
    403: "The server refuses the request.",
    405: "The path does not take this method; Allow lists the ones it takes.",
    413: "The request body is larger than 64 KiB.",
    429: "Too many requests; retry after Retry-After seconds.",
    500: "An unexpected failure; the detail is in the server's log only.",
    503: "The server cannot answer right now (its database is unreachable); retry after Retry-After seconds.",
}
# The header an answer with this status always carries (RFC 9110 11.6.1, 15.5.6, 10.2.3;
# RFC 6585 4).
_STATUS_HEADERS = {401: "WWW-Authenticate", 405: "Allow", 429: "Retry-After", 503: "Retry-After"}


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def headers() -> dict[str, Any]:
    """components.headers: those of the error answers, and DPoP-Nonce, which any answer to a
    DPoP request carries while nonces are required."""
    return {
        "WWW-Authenticate": {"description": "The challenge: Basic for invalid_client (RFC 6749 5.2), Bearer for "
                                            "invalid_token (RFC 6750 3), DPoP for a DPoP-bound token or a DPoP "
                                            "proof at a resource (RFC 9449 7.1).", "required": True,
                             "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                        "schema": {"type": "integer", "minimum": 1}},
        "Allow": {"description": "The methods the path takes.", "required": True, "schema": {"type": "string"}},
        "DPoP-Nonce": {"description": "While the server requires DPoP nonces: the nonce the next DPoP proof "
                                      "must carry (RFC 9449 8, 9).", "required": False,
                       "schema": {"type": "string"}},
    }


def header_names(status: int, errors: Iterable[type[ProtocolError]]) -> list[str]:
    """The headers an error answer with ``status`` documents."""
    names = [_STATUS_HEADERS[status]] if status in _STATUS_HEADERS else []
    if any(issubclass(error, UseDpopNonce) for error in errors):
        names.append("DPoP-Nonce")
    return names


def by_status(errors: Iterable[type[ProtocolError] | Answer]) -> dict[int, list[Answer]]:
    """``errors`` and :data:`COMMON`, grouped by status, in ascending order."""
    grouped: dict[int, list[Answer]] = {}
    for answer in answers([*errors, *COMMON]):
        grouped.setdefault(answer.status, []).append(answer)
    return dict(sorted(grouped.items()))


def error_responses(errors: Iterable[type[ProtocolError] | Answer],
                    notes: Mapping[int, str] | None = None) -> dict[str, Any]:
    """The error responses of an operation whose endpoint can raise ``errors``; ``notes`` says
    what a status means there, where the general description is not enough."""
    grouped = by_status(errors)
    unanswered = set(notes or {}) - set(grouped)
    if unanswered:
        raise ValueError(f"notes for statuses the endpoint never answers with: {sorted(unanswered)}")
    return {str(status): _response(status, group, (notes or {}).get(status)) for status, group in grouped.items()}


def _response(status: int, group: list[Answer], note: str | None) -> dict[str, Any]:
    codes = sorted({answer.code for answer in group})
    schema = {"allOf": [ref("Error"), {"properties": {"error": {"enum": codes}}}]}
    response: dict[str, Any] = {"description": note or _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
                                "content": json_content(schema)}
    names = header_names(status, (answer.error_class for answer in group))
    if names:
        response["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in names}
    return response


def with_errors(successes: dict[str, Any], errors: Iterable[type[ProtocolError] | Answer],
                notes: Mapping[int, str] | None = None) -> dict[str, Any]:
    """An operation's responses: its successes, and its error responses. Where a status is
    both (/health/ready's 503), the body is either, and the headers are not required."""
    responses = dict(successes)
    for status, error in error_responses(errors, notes).items():
        answered = responses.get(status)
        if answered is None:
            responses[status] = error
            continue
        either = [answered["content"][JSON]["schema"], error["content"][JSON]["schema"]]
        merged: dict[str, Any] = {"description": f"{answered['description']} Or: {error['description']}",
                                  "content": json_content({"anyOf": either})}
        if "headers" in error:
            merged["headers"] = {name: {**headers()[name], "required": False} for name in error["headers"]}
        responses[status] = merged
    return dict(sorted(responses.items()))
