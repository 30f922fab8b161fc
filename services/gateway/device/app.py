"""The authentication device's pages as an aiohttp sub-application, mounted at ``PREFIX``
(/device) by services.gateway.app.create_app.

People read these answers, not programs: every failure is a page in the user's language
(Accept-Language, refined by the request's ui_locales once a link is known), never the
protocol's JSON. The gateway's own middlewares (access log, request ids, metrics, tracing,
security headers) wrap this application too, and name its routes with the prefix
(``/device/{ref}``).
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import gateway
from services.gateway.device import account, locale, pages
from services.gateway.device.gone import PageGone
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import Templates
from services.gateway.middleware import (
    Handler,
    database_unreachable,
    deadline_middleware,
    password_checks_busy,
    unhandled_error,
)
from services.gateway.password_checks import ChecksBusy
from shared.db.errors import UNAVAILABLE


def create_pages_app() -> web.Application:
    """The pages' routes, relative to the prefix. Its deadline sits inside its error pages, so
    a request that ran out of time gets a page too."""
    app = web.Application(middlewares=[pages_errors_middleware, deadline_middleware])
    app.router.add_routes(account.routes())
    app.router.add_get("/{ref}", pages.show)
    app.router.add_post("/{ref}/login", pages.login)
    app.router.add_post("/{ref}/decision", pages.decide)
    return app


def gone_page(templates: Templates, gone: PageGone) -> web.Response:
    """In the language its words were chosen in."""
    locale.use(gone.language)
    return templates.message(gone.title, gone.message, status=gone.status)


@web.middleware
async def pages_errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    locale.use(locale.negotiate(None, request.headers.get("Accept-Language")))
    templates = gateway(request).templates
    try:
        return await handler(request)
    except PageGone as gone:
        return gone_page(templates, gone)
    except UNAVAILABLE as exc:
        error = database_unreachable(request, exc)
        return templates.message(_("Briefly unavailable"), _("The service is briefly unavailable. Please try again "
                                                             "in a few seconds."), status=503, headers=error.headers())
    except ChecksBusy as busy:
        password_checks_busy(request, busy)
        return templates.message(_("Busy"), _("Too many sign-ins at once. Try again in %(seconds)s seconds.")
                                 % {"seconds": busy.retry_after},
                                 status=429, headers={"Retry-After": str(busy.retry_after)})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return templates.message(exc.reason or "Error", exc.reason or "", status=exc.status)
    except Exception:
        unhandled_error(request)
        return templates.message(_("Something went wrong"), _("Please try again in a moment."), status=500)
