"""aiohttp handlers for the client notification endpoint (CIBA Core 10.2 ping, 10.3 push).

Mount one on the route registered as ``backchannel_client_notification_endpoint``::

    app.router.add_post("/ciba/notify", ping_handler(client))            # ping clients
    app.router.add_post("/ciba/notify", push_handler(client, on_result))  # push clients

Every call must carry ``Authorization: Bearer <client_notification_token>`` of the request its
body names (compared in constant time); anything else is 401. A body that is not the JSON
object the spec describes is 400. A notification that was understood is 204, after the
callback returned: a callback that raises makes the answer 500, and the provider calls again
later (a retried push carries the same tokens), so an outcome is not lost to a crash. Keep
callbacks short: the provider waits for the answer only a few seconds.

A push's id_token is verified before anything is delivered: its signature against the
issuer's JWKS, and its ``urn:openid:params:jwt:claim:auth_req_id``, ``at_hash`` and
``rt_hash`` against the body's auth_req_id, access token and refresh token (CIBA 10.3.1). A
push that fails this is answered 400 and delivered as an InvalidIdToken error; when the JWKS
cannot be fetched the answer is 503, so the provider tries again.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ciba_client.client import CibaClient
from ciba_client.errors import CibaError, InvalidIdToken, KeysUnavailable, UnexpectedResponse, error_for
from ciba_client.notifications import Expected
from ciba_client.tokens import TokenResponse

MAX_BODY = 64 * 1024
log = logging.getLogger("ciba_client")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# For deployments where the callback may land on another process than the one that started the
# request: the client_notification_token given for an auth_req_id, or None if unknown.
TokenLookup = Callable[[str], Awaitable[str | None]]


@dataclass(frozen=True)
class PushResult:
    """What a push delivered: tokens (verified), or the error the request ended with."""

    auth_req_id: str
    tokens: TokenResponse | None = None
    error: CibaError | None = None

    @property
    def ok(self) -> bool:
        return self.tokens is not None


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def _unauthorized() -> _Refused:
    return _Refused(web.json_response({"error": "invalid_token"}, status=401,
                                      headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}))


def _bad_request(description: str) -> _Refused:
    return _Refused(web.json_response({"error": "invalid_request", "error_description": description}, status=400))


def _too_large() -> _Refused:
    return _Refused(web.json_response({"error": "invalid_request", "error_description": "the body is too large"},
                                      status=413))


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized()
    return token.strip()


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _too_large()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16384):  # to its end, however many packets it takes
        size += len(chunk)
        if size > MAX_BODY:
            raise _too_large()
        chunks.append(chunk)
    raw = b"".join(chunks)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request("the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("auth_req_id"), str) or not body["auth_req_id"]:
        raise _bad_request("the body must be a JSON object with an auth_req_id")
    return body


async def _authenticated(request: web.Request, client: CibaClient,
                         lookup: TokenLookup | None) -> tuple[dict[str, Any], Expected | None]:
    """The body and the expectation it answers, once the bearer token is the request's own."""
    bearer = _bearer(request)
    body = await _body(request)
    expected = client.notifications.match(bearer, body["auth_req_id"])
    if expected is not None:
        return body, expected
    known = await lookup(body["auth_req_id"]) if lookup is not None else None
    if known is None or not hmac.compare_digest(known.encode(), bearer.encode()):
        log.info("ciba_notification_refused: the bearer token does not match the request")
        raise _unauthorized()
    return body, None


def _refusals(handler: Handler) -> Handler:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _Refused as refused:
            return refused.response
    return wrapped


def ping_handler(client: CibaClient, on_ping: Callable[[str], Awaitable[None]] | None = None, *,
                 lookup: TokenLookup | None = None) -> Handler:
    """CIBA 10.2: the body is ``{"auth_req_id": ...}``; the outcome waits at the token endpoint.
    ``wait`` on the request fetches it; ``on_ping(auth_req_id)`` is for applications that fetch
    it themselves (``await client.token(auth_req_id)``)."""
    @_refusals
    async def handle(request: web.Request) -> web.StreamResponse:
        body, expected = await _authenticated(request, client, lookup)
        if expected is not None:
            expected.pinged.set()
        if on_ping is not None:
            await on_ping(body["auth_req_id"])
        return web.Response(status=204)
    return handle


def push_handler(client: CibaClient, on_result: Callable[[PushResult], Awaitable[None]] | None = None, *,
                 lookup: TokenLookup | None = None) -> Handler:
    """CIBA 10.3: the token response plus ``auth_req_id`` (10.3.1), or ``error``,
    ``error_description`` and ``auth_req_id`` (10.3.2)."""
    @_refusals
    async def handle(request: web.Request) -> web.StreamResponse:
        body, expected = await _authenticated(request, client, lookup)
        auth_req_id = body["auth_req_id"]
        status = 204
        if "error" in body:
            result = PushResult(auth_req_id, error=error_for(body))
        else:
            try:
                result = PushResult(auth_req_id, tokens=await client.token_response(body, push=True))
            except KeysUnavailable:
                return _jwks_unavailable()
            except (InvalidIdToken, UnexpectedResponse) as exc:
                log.warning("ciba_push_refused: %s", exc.description)
                result, status = PushResult(auth_req_id, error=exc), 400
        if expected is not None and not expected.outcome.done():
            expected.outcome.set_result(result.tokens or result.error)
        if on_result is not None:
            await on_result(result)
        if status == 400:
            return web.json_response({"error": "invalid_request",
                                      "error_description": "the id_token does not verify"}, status=400)
        return web.Response(status=204)
    return handle


def _jwks_unavailable() -> web.Response:
    log.warning("ciba_push_deferred: the issuer's keys could not be fetched")
    return web.json_response({"error": "temporarily_unavailable"}, status=503, headers={"Retry-After": "2"})
