"""The authentication device's pages (README, "The authentication device's pages").

    GET  /device/{ref}           login form, or the consent page once signed in
    POST /device/{ref}/login     username + password (argon2), plus a TOTP code when the
                                 request asks for acr ``mfa``; CSRF double-submit
    POST /device/{ref}/decision  decision=approve|deny, CSRF token from the session

Which link opens which page (404, 410) is services.gateway.device.links. Only the user the
request names can decide it; a request asking for ``mfa`` cannot be decided by an account
without an authenticator app (403).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from aiohttp import web

from services.gateway.acr import MFA
from services.gateway.client_address import client_address
from services.gateway.context import gateway
from services.gateway.device import session as cookies
from services.gateway.device.credentials import SourceAttempt, check_password, check_totp, too_many_from_address
from services.gateway.device.forms import read_page_form
from services.gateway.device.gone import PageGone
from services.gateway.device.links import MAX_FAILED_LOGINS, Page, load, locked
from services.gateway.device.locale import N_
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import Templates
from shared import metrics
from shared.crypto import new_token
from shared.domain import lifecycle
from shared.domain.attempts_limit import DEVICE_LOGIN
from shared.domain.auth_request import AuthRequest, Status, auth_req_id_of
from shared.domain.authorization_details import flatten
from shared.logging import bind_request, get_logger
from shared.repositories.users import User

SCOPE_LABELS = {
    "openid": N_("Confirm your identity"),
    "profile": N_("Your name and profile"),
    "email": N_("Your email address"),
    "phone": N_("Your phone number"),
}
# RFC 9396 on the consent page: a template per authorization details type, else the generic one.
DETAILS_TEMPLATES = "authorization_details"
GENERIC_DETAIL_TEMPLATE = f"{DETAILS_TEMPLATES}/_generic.html"
_UNSAFE_IN_NAME = re.compile(r"^\.|[^A-Za-z0-9._-]")

log = get_logger("ciba.device")


class Users(Protocol):
    """The active users, for the name the consent page shows."""

    async def by_sub(self, sub: str) -> User | None: ...


def _login_page(request: web.Request, templates: Templates, page: Page, *, secure: bool, error: str | None = None,
                status: int = 200, username: str | None = None) -> web.Response:
    """The sign-in form; after a failed attempt it keeps the username typed. Focus goes to it
    only without a binding message: on a phone the keyboard would cover the message the user
    must compare first."""
    token = cookies.login_csrf_token(request)
    response = templates.render("login.html", {
        "client_name": page.client_name, "binding_message": page.request.binding_message,
        "action": f"{page.base}/login", "error": error, "csrf_token": token,
        "totp": page.required_acr == MFA, "username": username[:256] if username else None,
    }, status=status)
    cookies.set_csrf_cookie(response, token, secure=secure)
    return response


def detail_template(kind: str) -> str:
    """The operator's template for an authorization details type: the type with every
    character outside ``A-Z a-z 0-9 . _ -`` (and a leading dot) replaced by ``_``."""
    return f"{DETAILS_TEMPLATES}/{_UNSAFE_IN_NAME.sub('_', kind)}.html"


def _authorization_details(page: Page) -> list[dict[str, Any]]:
    """Each of the request's authorization_details (RFC 9396) as the consent page shows it:
    the type's own template, else the generic one, with the detail and its flattened fields."""
    return [{"type": detail["type"], "detail": detail, "fields": flatten(detail),
             "templates": [detail_template(detail["type"]), GENERIC_DETAIL_TEMPLATE]}
            for detail in page.request.authorization_details or []]


async def _consent_page(users: Users, templates: Templates, page: Page,
                        session: cookies.DeviceSession) -> web.Response:
    user = await users.by_sub(session.sub)
    return templates.render("consent.html", {
        "client_name": page.client_name, "binding_message": page.request.binding_message,
        "scopes": page.request.scope, "scope_labels": SCOPE_LABELS,
        "username": user.username if user else None,
        "action": f"{page.base}/decision", "csrf_token": session.csrf_token,
        "authorization_details": _authorization_details(page),
    })


async def show(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await load(request.match_info["ref"], links=gw.device_links, clients=gw.clients,
                      secrets=gw.rt.secrets, now=gw.rt.clock.now())
    session = cookies.read_session(request, gw.rt.secrets, page.ref_hash.hex())
    if session is not None and page.signed_in(session):
        return await _consent_page(gw.device_accounts, gw.templates, page, session)
    return _login_page(request, gw.templates, page, secure=cookies.secure_cookies(gw.rt.settings.development))


async def login(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await load(request.match_info["ref"], links=gw.device_links, clients=gw.clients,
                      secrets=gw.rt.secrets, now=gw.rt.clock.now())
    form = await read_page_form(request)
    secure = cookies.secure_cookies(gw.rt.settings.development)
    if not cookies.login_csrf_ok(request, form.get("csrf_token")):
        return _login_page(request, gw.templates, page, secure=secure, status=403,
                           error=_("Your session expired. Please sign in again."))
    username = form.get("username", "")
    with bind_request(auth_request=str(page.request.id)):
        gw.password_checks.ensure_capacity()  # busy: 429 before an attempt is spent
        # Each attempt is counted before the password is checked (per source address, per
        # link, and per username across links), so concurrent guesses cannot outrun the limits.
        source = SourceAttempt(gw.rt.pool, client_address(request, gw.rt.settings.trusted_proxy_networks),
                               gw.rt.config.deviceLoginMaxFailuresPerAddress)
        if not await source.allowed(gw.rt.clock.now()):
            log.warning("device_login_locked", reason="address")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            return too_many_from_address(gw.templates)
        if not await gw.device_links.reserve_login_attempt(page.ref_hash, MAX_FAILED_LOGINS):
            log.warning("device_login_locked", reason="link")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            raise locked()
        if not await DEVICE_LOGIN.allow(gw.rt.pool, username, gw.rt.clock.now()):
            log.warning("device_login_locked", reason="username")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            return _login_page(request, gw.templates, page, secure=secure, status=429,
                               error=_("Too many failed sign-in attempts. Try again in 15 minutes."))
        # Only the user the request names can sign in here: any other account fails exactly
        # like a wrong password.
        user = await check_password(gw.device_accounts, gw.password_checks, username, form.get("password", ""),
                                    only=page.request.sub)
        if user is None:
            return _login_failed(request, gw.templates, page, username, secure=secure)
        if page.required_acr == MFA:
            if user.totp_secret_enc is None:
                log.info("device_login_without_authenticator")
                return gw.templates.message(_("An authenticator app is needed"),
                                            _("This request needs a code from an authenticator app, and "
                                              "your account has none set up."), status=403)
            if not await check_totp(gw.device_accounts, gw.rt.secrets, user, form.get("totp", ""), gw.rt.clock.now()):
                return _login_failed(request, gw.templates, page, username, secure=secure)
        await gw.device_links.release_login_attempt(page.ref_hash)
        await DEVICE_LOGIN.succeeded(gw.rt.pool, username)
        await source.succeeded()
        log.info("device_login_succeeded", acr=page.required_acr)
        metrics.DEVICE_LOGINS.labels("ok").inc()
    response = web.Response(status=303, headers={"Location": page.base})
    cookies.start_session(response, gw.rt.secrets, cookies.DeviceSession(
        binding=page.ref_hash.hex(), sub=user.sub, auth_time=gw.rt.clock.now(),
        acr=page.required_acr, csrf_token=new_token(24)), secure=secure)
    return response


def _login_failed(request: web.Request, templates: Templates, page: Page, username: str, *,
                  secure: bool) -> web.Response:
    """A wrong password, another account and a wrong code count alike and read alike (the
    attempt was counted before the check)."""
    log.info("device_login_failed")
    metrics.DEVICE_LOGINS.labels("bad_credentials").inc()
    error = (_("The username, password or code is not correct.") if page.required_acr == MFA
             else _("The username or password is not correct."))
    return _login_page(request, templates, page, secure=secure, status=401, error=error, username=username)


async def decide(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await load(request.match_info["ref"], links=gw.device_links, clients=gw.clients,
                      secrets=gw.rt.secrets, now=gw.rt.clock.now())
    form = await read_page_form(request)
    session = cookies.read_session(request, gw.rt.secrets, page.ref_hash.hex())
    if session is None or not page.signed_in(session):
        return _login_page(request, gw.templates, page, secure=cookies.secure_cookies(gw.rt.settings.development),
                           status=401, error=_("Please sign in first."))
    if not cookies.tokens_match(session.csrf_token, form.get("csrf_token")):
        return gw.templates.message(_("Session mismatch"), _("Please reload the page and try again."), status=403)
    decision = form.get("decision")
    if decision not in ("approve", "deny"):
        return gw.templates.message(_("Choose approve or deny"),
                                    _("The request was not answered. Go back and choose."), status=400)
    decided = await lifecycle.decide(
        gw.rt.pool, page.request, approved=decision == "approve", now=gw.rt.clock.now(),
        auth_time=session.auth_time, acr=session.acr, service=gw.rt.service)
    if decided is None:  # answered on another page, or expired, since the page was loaded
        raise PageGone(410, _("This request is closed"),
                       _("This sign-in request was already answered or has expired."))
    with bind_request(auth_req_id=auth_req_id_of(gw.rt.secrets, decided)):
        log.info("auth_request_decided", decision=decided.status)
    response = _decided_page(gw.templates, page, decided)
    cookies.end_session(response)
    return response


def _decided_page(templates: Templates, page: Page, decided: AuthRequest) -> web.Response:
    if decided.status is Status.APPROVED:
        return templates.message(_("Approved"),
                                 _("You approved the request from %(client)s. You can return to the other "
                                   "device.") % {"client": page.client_name}, status=200)
    return templates.message(_("Denied"),
                             _("You denied the request from %(client)s. Nothing was shared.")
                             % {"client": page.client_name}, status=200)
