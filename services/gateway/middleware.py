"""The gateway's middlewares: protocol errors rendered in one place, an access log that never
records secrets, and the headers every response carries. The device pages (a sub-application,
services.gateway.device.app) render their errors as pages of their own, inside these."""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from services.gateway.client_address import Network, client_address, from_trusted_proxy
from services.gateway.context import GATEWAY, gateway
from services.gateway.long_poll import requested_wait
from services.gateway.password_checks import ChecksBusy
from shared import metrics, tracing
from shared.db.errors import UNAVAILABLE
from shared.errors import (
    Errors,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    ServerError,
    SlowDown,
    TemporarilyUnavailable,
)
from shared.logging import get_logger

# The OAuth error code an answer carried, kept on the response for the metrics.
ERROR_CODE = web.ResponseKey("ciba_error", str)
# What errors_middleware answers on any route of its application, whatever the handler
# (services.gateway.endpoints.openapi documents them on every operation).
ERRORS: Errors = (InvalidRequest, InvalidRequest.at(413), MethodNotAllowed, NotFound, SlowDown.at(429),
                  TemporarilyUnavailable, ServerError)
_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"})
# What a proxy's X-Request-Id may look like to be taken (anything else gets a fresh id).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
log = get_logger("ciba.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_response(error: ProtocolError) -> web.Response:
    response = web.json_response(error.body(), status=error.status, headers={**NO_STORE, **error.headers()})
    response[ERROR_CODE] = error.error  # for the metrics (ciba_http_requests_total{error})
    return response


def route_name(request: web.Request) -> str:
    """The route template (/device/{ref}), never the path itself: paths may carry secrets."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def database_unreachable(request: web.Request, exc: BaseException) -> TemporarilyUnavailable:
    """Logged once, whoever renders it: what to answer while the database is unreachable."""
    log.warning("database_unavailable", route=route_name(request), error=f"{type(exc).__name__}: {exc}"[:200])
    return TemporarilyUnavailable("the service is briefly unavailable; retry after Retry-After seconds")


def password_checks_busy(request: web.Request, busy: ChecksBusy) -> None:
    """Logged and counted once, whoever renders it."""
    log.warning("password_checks_busy", route=route_name(request), retry_after=busy.retry_after)
    metrics.RATE_LIMITED.labels("password_checks").inc()


def unhandled_error(request: web.Request) -> None:
    """Logged (with the exception being handled), whoever renders the 500."""
    log.exception("unhandled_error", route=route_name(request), method=request.method)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(exc)
    except UNAVAILABLE as exc:
        return error_response(database_unreachable(request, exc))
    except ChecksBusy as busy:
        password_checks_busy(request, busy)
        return error_response(SlowDown("the server is busy; retry later", status=429,
                                       retry_after=busy.retry_after))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 413:
            return error_response(InvalidRequest("the request body is too large", status=413))
        if exc.status == 404:
            return error_response(NotFound("no such resource"))
        if exc.status == 405:
            return error_response(MethodNotAllowed(exc.headers.get("Allow", "")))
        return error_response(InvalidRequest(exc.reason, status=exc.status))
    except Exception:
        unhandled_error(request)
        return error_response(ServerError("internal error"))


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound every request (CIBA_HTTP_REQUEST_TIMEOUT_SEC, plus the wait of a long poll): when
    the database hangs, the client gets 503 temporarily_unavailable in time, not a hang.

    The handler runs as a task of its own and is only *asked* to stop: asyncpg answers a
    cancelled query by cancelling it on the server and cleaning up its connection, over the
    same hanging network, which can take as long as the hang itself.

    Each application installs it inside its own error rendering and bounds its own routes: a
    sub-application's requests pass through the parent's on to the sub-application's."""
    if request.match_info.apps[-1] is not request.app:
        return await handler(request)
    gw = gateway(request)
    budget = gw.rt.settings.http_request_timeout_sec
    wait = requested_wait(request.headers.getall("Prefer", []))
    if wait:
        budget += min(wait, gw.rt.config.cibaLongPollingMaxWaitSec)
    task = asyncio.ensure_future(handler(request))
    try:
        return await asyncio.wait_for(asyncio.shield(task), budget)
    except TimeoutError:
        task.cancel()
        task.add_done_callback(_forget)
        raise TimeoutError(f"no answer within {budget:g} s") from None
    except asyncio.CancelledError:  # the client went away
        task.cancel()
        task.add_done_callback(_forget)
        raise


def _forget(task: asyncio.Task[web.StreamResponse]) -> None:
    """The abandoned handler's outcome: nobody waits for it any more."""
    if not task.cancelled() and task.exception() is not None:
        log.info("abandoned_request_failed", error=type(task.exception()).__name__)


@functools.cache
def _http_metrics(route: str, method: str, status: int, error: str) -> tuple[Any, Any]:
    """The metric children of one answer's labels, looked up once: prometheus-client's
    labels() validates and locks on every call. Routes, methods, statuses and error codes are
    bounded sets, so is this cache."""
    return metrics.HTTP_REQUESTS.labels(route, method, str(status), error), metrics.HTTP_DURATION.labels(route)


def _request_id(request: web.Request, proxies: list[Network]) -> str:
    """The proxy's X-Request-Id when a trusted proxy sent a sane one, else a new short id."""
    given = request.headers.get("X-Request-Id", "")
    if given and _REQUEST_ID.fullmatch(given) and from_trusted_proxy(request, proxies):
        return given
    return secrets.token_hex(6)


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status, error = 500, ""
    proxies = request.app[GATEWAY].rt.settings.trusted_proxy_networks
    request_id = _request_id(request, proxies)
    try:
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await handler(request)
        status, error = response.status, response.get(ERROR_CODE, "")
        response.headers["X-Request-Id"] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers["X-Request-Id"] = request_id
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = route_name(request)
        log.info("http_request", method=request.method, route=route, status=status,
                 duration_ms=round(elapsed * 1000, 2), request_id=request_id,
                 client=client_address(request, proxies))
        # Only methods we route: anything else would let callers invent label values.
        method = request.method if request.method in _METHODS else "other"
        requests, duration = _http_metrics(route, method, status, error)
        requests.inc()
        duration.observe(elapsed)


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, continuing the caller's ``traceparent`` (installed only while
    tracing is on). Named by the route template, never the path: paths may carry secrets."""
    route = route_name(request)
    method = request.method if request.method in _METHODS else "other"
    with tracing.span(f"{method} {route}", headers=request.headers, kind="SERVER", attributes={
            "http.request.method": method, "http.route": route, "url.scheme": request.scheme}) as opened:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            tracing.set_attributes(opened, http__response__status_code=exc.status)
            raise
        tracing.set_attributes(opened, http__response__status_code=response.status,
                               ciba__error=response.get(ERROR_CODE))
        if response.status >= 500:
            tracing.mark_error(opened, str(response.status))
        return response


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
