"""The gateway's middlewares: protocol errors rendered in one place, an access log that never
records secrets, and the headers every response carries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.gateway.context import gateway
from services.gateway.device.render import PageGone, render_message
from services.gateway.long_poll import requested_wait
from services.gateway.password_checks import ChecksBusy
from shared.db.errors import UNAVAILABLE
from shared.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ProtocolError,
    ServerError,
    SlowDown,
    TemporarilyUnavailable,
)
from shared.logging import get_logger

log = get_logger("ciba.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def error_response(error: ProtocolError) -> web.Response:
    return web.json_response(error.body(), status=error.status, headers={**NO_STORE, **error.headers()})


def _is_page(request: web.Request) -> bool:
    return request.path.startswith("/device/")


def _route_name(request: web.Request) -> str:
    """The route template (/device/{ref}), never the path itself: paths may carry secrets."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def _unavailable(request: web.Request, exc: BaseException) -> web.Response:
    log.warning("database_unavailable", route=_route_name(request), error=f"{type(exc).__name__}: {exc}"[:200])
    error = TemporarilyUnavailable("the service is briefly unavailable; retry after Retry-After seconds")
    if _is_page(request):
        return render_message("Briefly unavailable", "The service is briefly unavailable. Please try again "
                              "in a few seconds.", status=503, headers=error.headers())
    return error_response(error)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(exc)
    except UNAVAILABLE as exc:
        return _unavailable(request, exc)
    except PageGone as gone:
        return gone.response
    except ChecksBusy as busy:
        log.warning("password_checks_busy", route=_route_name(request), retry_after=busy.retry_after)
        if _is_page(request):
            return render_message("Busy", f"Too many sign-ins at once. Try again in {busy.retry_after} seconds.",
                                  status=429, headers={"Retry-After": str(busy.retry_after)})
        return error_response(SlowDown("the server is busy; retry later", status=429,
                                       retry_after=busy.retry_after))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if _is_page(request):
            return render_message(exc.reason or "Error", exc.reason or "", status=exc.status)
        if exc.status == 413:
            return error_response(InvalidRequest("the request body is too large", status=413))
        if exc.status == 404:
            return error_response(NotFound("no such resource"))
        if exc.status == 405:
            return error_response(MethodNotAllowed(exc.headers.get("Allow", "")))
        return error_response(InvalidRequest(exc.reason, status=exc.status))
    except Exception:
        log.exception("unhandled_error", route=_route_name(request), method=request.method)
        if _is_page(request):
            return render_message("Something went wrong",
                                  "Please try again in a moment.", status=500)
        return error_response(ServerError("internal error"))


@web.middleware
async def deadline_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Bound every request (CIBA_HTTP_REQUEST_TIMEOUT_SEC, plus the wait of a long poll): when
    the database hangs, the client gets 503 temporarily_unavailable in time, not a hang.

    The handler runs as a task of its own and is only *asked* to stop: asyncpg answers a
    cancelled query by cancelling it on the server and cleaning up its connection, over the
    same hanging network, which can take as long as the hang itself."""
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


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        log.info("http_request", method=request.method, route=_route_name(request),
                 status=status, duration_ms=round((time.perf_counter() - started) * 1000, 2))


@web.middleware
async def security_headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
