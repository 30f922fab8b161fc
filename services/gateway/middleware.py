"""The gateway's middlewares: protocol errors rendered in one place, an access log that never
records secrets, and the headers every response carries."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from services.gateway.device.render import PageGone, render_message
from services.gateway.password_checks import ChecksBusy
from shared.errors import InvalidRequest, MethodNotAllowed, NotFound, ProtocolError, ServerError, SlowDown
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


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ProtocolError as exc:
        return error_response(exc)
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
