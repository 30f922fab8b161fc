"""The account page of the authentication device: users set their CIBA user_code (CIBA Core 7.1)
themselves, as they can through ``ciba-admin user set-code``.

    GET  /device/account/user-code   login form, or the form for a new code once signed in
    POST /device/account/user-code   step=login: username, password, and the TOTP code when the
                                     account has an authenticator; CSRF double-submit
                                     step=set: the new code twice; CSRF token from the session

It lives in the device pages' sub-application (/device/), so the request pages' cookie scope,
CSRF cookie, headers and error pages apply; ``/device/{ref}`` matches one path segment only, so
the two never collide. The session is its own cookie (scoped to /device/account/, bound to the
purpose ``ACCOUNT``), so signing in here neither ends nor opens a request page's session. Five
failed logins per username within fifteen minutes lock the username (counted in Postgres,
shared by every gateway replica; see shared.domain.attempts_limit).
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.acr import MFA, PASSWORD
from services.gateway.client_address import client_address
from services.gateway.context import gateway
from services.gateway.device import PREFIX
from services.gateway.device import session as cookies
from services.gateway.device.credentials import SourceAttempt, check_password, check_totp, too_many_from_address
from services.gateway.device.forms import read_page_form
from services.gateway.device.gone import PageGone
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import PAGE_HEADERS, Templates
from shared.crypto import Secrets, new_token
from shared.domain.attempts_limit import ACCOUNT_LOGIN
from shared.domain.user_code import MAX_LENGTH, InvalidUserCode, check_format
from shared.logging import get_logger

ROUTE = "/account/user-code"  # in the device pages' sub-application
PATH = PREFIX + ROUTE

log = get_logger("ciba.device")


def routes() -> list[web.RouteDef]:
    pages = UserCodePages()
    return [web.get(ROUTE, pages.show), web.post(ROUTE, pages.submit)]


def _read_session(request: web.Request, secrets: Secrets) -> cookies.DeviceSession | None:
    return cookies.read_session(request, secrets, cookies.ACCOUNT, scope=cookies.ACCOUNT_PAGES)


def _login_page(request: web.Request, templates: Templates, *, secure: bool, error: str | None = None,
                status: int = 200) -> web.Response:
    token = cookies.login_csrf_token(request)
    response = templates.render("account_login.html", {"action": PATH, "error": error, "csrf_token": token},
                                status=status)
    cookies.set_csrf_cookie(response, token, secure=secure)
    return response


def _code_page(templates: Templates, session: cookies.DeviceSession, *, error: str | None = None,
               status: int = 200) -> web.Response:
    return templates.render("account_user_code.html", {"action": PATH, "error": error, "max_length": MAX_LENGTH,
                                                       "csrf_token": session.csrf_token}, status=status)


class UserCodePages:
    """The page's two steps; each reads the gateway once, as a handler does."""

    async def show(self, request: web.Request) -> web.Response:
        gw = gateway(request)
        session = _read_session(request, gw.rt.secrets)
        if session is not None:
            return _code_page(gw.templates, session)
        return _login_page(request, gw.templates, secure=cookies.secure_cookies(gw.rt.settings.development))

    async def submit(self, request: web.Request) -> web.Response:
        form = await read_page_form(request)
        if form.get("step") == "set":
            return await self._set_code(request, form)
        return await self._login(request, form)

    async def _login(self, request: web.Request, form: dict[str, str]) -> web.Response:
        gw = gateway(request)
        secure = cookies.secure_cookies(gw.rt.settings.development)
        if not cookies.login_csrf_ok(request, form.get("csrf_token")):
            return _login_page(request, gw.templates, secure=secure, status=403,
                               error=_("Your session expired. Please sign in again."))
        username = form.get("username", "")
        gw.password_checks.ensure_capacity()  # busy: 429 before an attempt is spent
        source = SourceAttempt(gw.rt.pool, client_address(request, gw.rt.settings.trusted_proxy_networks),
                               gw.rt.config.deviceLoginMaxFailuresPerAddress)
        if not await source.allowed(gw.rt.clock.now()):
            log.warning("account_login_locked", reason="address")
            return too_many_from_address(gw.templates)
        if not await ACCOUNT_LOGIN.allow(gw.rt.pool, username, gw.rt.clock.now()):
            log.warning("account_login_locked")
            return _login_page(request, gw.templates, secure=secure, status=429,
                               error=_("Too many failed sign-in attempts. Try again in 15 minutes."))
        user = await check_password(gw.device_accounts, gw.password_checks, username, form.get("password", ""))
        if user is not None and user.totp_secret_enc is not None:
            totp_ok = await check_totp(gw.device_accounts, gw.rt.secrets, user, form.get("totp", ""), gw.rt.clock.now())
            user = user if totp_ok else None
        if user is None:
            log.info("account_login_failed")
            return _login_page(request, gw.templates, secure=secure, status=401,
                               error=_("The username, password or code is not correct."))
        await ACCOUNT_LOGIN.succeeded(gw.rt.pool, username)
        await source.succeeded()
        log.info("account_login_succeeded", sub=user.sub)
        response = web.Response(status=303, headers={**PAGE_HEADERS, "Location": PATH})
        cookies.start_session(response, gw.rt.secrets, cookies.DeviceSession(
            binding=cookies.ACCOUNT, sub=user.sub, auth_time=gw.rt.clock.now(),
            acr=MFA if user.totp_secret_enc else PASSWORD, csrf_token=new_token(24)),
            secure=secure, scope=cookies.ACCOUNT_PAGES)
        return response

    async def _set_code(self, request: web.Request, form: dict[str, str]) -> web.Response:
        gw = gateway(request)
        session = _read_session(request, gw.rt.secrets)
        if session is None:
            return _login_page(request, gw.templates, secure=cookies.secure_cookies(gw.rt.settings.development),
                               status=401, error=_("Please sign in first."))
        if not cookies.tokens_match(session.csrf_token, form.get("csrf_token")):
            return gw.templates.message(_("Session mismatch"), _("Please reload the page and try again."),
                                        status=403)
        code = form.get("user_code", "")
        if code != form.get("user_code_confirm", ""):
            return _code_page(gw.templates, session, status=400, error=_("The two codes are not the same."))
        try:
            code_hash = await gw.password_checks.hash(check_format(code))
        except InvalidUserCode:
            return _code_page(gw.templates, session, status=400,
                              error=_("Choose a code of 1 to %(max_length)s characters.") % {"max_length": MAX_LENGTH})
        if not await gw.device_accounts.set_user_code(session.sub, code_hash):
            raise PageGone(410, _("Account not found"), _("This account no longer exists."))
        log.info("user_code_changed", sub=session.sub)
        response = gw.templates.message(_("User code changed"),
                                        _("Your new user code is set. Give it when a service asks for it."),
                                        status=200)
        cookies.end_session(response, scope=cookies.ACCOUNT_PAGES)
        return response
