"""The authentication device's pages (README, "The authentication device's pages").

    GET  /device/{ref}           login form, or the consent page once signed in
    POST /device/{ref}/login     username + password (argon2), plus a TOTP code when the
                                 request asks for acr ``mfa``; CSRF double-submit
    POST /device/{ref}/decision  decision=approve|deny, CSRF token from the session

The reference is single-use and unguessable; it never is the auth_req_id. Unknown -> 404;
used, expired, or burnt by too many failed logins (wrong password or wrong code) -> 410. Only
the user the request names can decide it; a request asking for ``mfa`` cannot be decided by
an account without an authenticator app (403).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from services.gateway.acr import MFA, required_level
from services.gateway.context import Gateway, gateway
from services.gateway.device import locale
from services.gateway.device import session as cookies
from services.gateway.device.credentials import SourceAttempt, check_password, check_totp, too_many_from_address
from services.gateway.device.forms import read_page_form
from services.gateway.device.locale import N_
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import PageGone, render, render_message
from shared import metrics
from shared.crypto import new_token
from shared.domain import lifecycle
from shared.domain.attempts_limit import DEVICE_LOGIN
from shared.domain.auth_request import AuthRequest, Status
from shared.domain.authorization_details import flatten
from shared.logging import bind_request, get_logger
from shared.repositories import device_refs, users

MAX_FAILED_LOGINS = 5
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


@dataclass(frozen=True)
class Page:
    ref: str
    ref_hash: bytes
    request: AuthRequest
    client_name: str

    @property
    def base(self) -> str:
        return f"/device/{self.ref}"

    @property
    def required_acr(self) -> str:
        return required_level(self.request.acr_values)

    def signed_in(self, session: cookies.DeviceSession) -> bool:
        """By the user the request names, to the level it asks for."""
        return session.sub == self.request.sub and session.acr == self.required_acr


async def _load(gw: Gateway, ref: str) -> Page:
    if len(ref) > 100:
        raise PageGone(404, _("Request not found"), _("This link is not valid."))
    found = await device_refs.get_with_request(gw.rt.pool, gw.rt.secrets.hashes(ref))
    if found is None:
        raise PageGone(404, _("Request not found"), _("This link is not valid."))
    row, request = found
    if request is not None:
        locale.prefer(request.ui_locales)
    ref_hash = row.ref_hash  # as stored: under the key it was made with
    now = gw.rt.clock.now()
    # An expired request reads as expired, before and after the expiry sweep marked it (and
    # used up its links).
    expired = request is not None and (request.status is Status.EXPIRED
                                       or (request.status is Status.PENDING and request.expires_at <= now))
    if not expired and (request is None or row.used_at is not None or request.status is not Status.PENDING):
        raise PageGone(410, _("This request is closed"),
                       _("This sign-in request has already been answered or has ended."))
    if expired:
        raise PageGone(410, _("This request has expired"),
                       _("This sign-in request has expired. Start again on the other device."))
    if row.failed_logins >= MAX_FAILED_LOGINS:
        raise PageGone(410, _("Too many attempts"),
                       _("This link was locked after too many failed sign-in attempts."))
    assert request is not None  # a missing request was refused above, as closed
    client = await gw.clients.get(request.client_id)
    return Page(ref, ref_hash, request, client.display_name if client else request.client_id)


def _login_page(request: web.Request, gw: Gateway, page: Page, *, error: str | None = None,
                status: int = 200, username: str | None = None) -> web.Response:
    """The sign-in form; after a failed attempt it keeps the username typed. Focus goes to it
    only without a binding message: on a phone the keyboard would cover the message the user
    must compare first."""
    token = cookies.login_csrf_token(request)
    response = render("login.html", {
        "client_name": page.client_name, "binding_message": page.request.binding_message,
        "action": f"{page.base}/login", "error": error, "csrf_token": token,
        "totp": page.required_acr == MFA, "username": username[:256] if username else None,
    }, status=status)
    cookies.set_csrf_cookie(response, token, secure=cookies.secure_cookies(gw.rt.settings.development))
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


async def _consent_page(gw: Gateway, page: Page, session: cookies.DeviceSession) -> web.Response:
    user = await users.get(gw.rt.pool, session.sub)
    return render("consent.html", {
        "client_name": page.client_name, "binding_message": page.request.binding_message,
        "scopes": page.request.scope, "scope_labels": SCOPE_LABELS,
        "username": user.username if user else None,
        "action": f"{page.base}/decision", "csrf_token": session.csrf_token,
        "authorization_details": _authorization_details(page),
    })


async def show(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await _load(gw, request.match_info["ref"])
    session = cookies.read_session(request, gw.rt.secrets, page.ref_hash.hex())
    if session is not None and page.signed_in(session):
        return await _consent_page(gw, page, session)
    return _login_page(request, gw, page)


async def login(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await _load(gw, request.match_info["ref"])
    form = await read_page_form(request)
    if not cookies.login_csrf_ok(request, form.get("csrf_token")):
        return _login_page(request, gw, page, status=403,
                           error=_("Your session expired. Please sign in again."))
    username = form.get("username", "")
    with bind_request(auth_request=str(page.request.id)):
        gw.password_checks.ensure_capacity()  # busy: 429 before an attempt is spent
        # Each attempt is counted before the password is checked (per source address, per
        # link, and per username across links), so concurrent guesses cannot outrun the limits.
        source = SourceAttempt(gw, request)
        if not await source.allowed():
            log.warning("device_login_locked", reason="address")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            return too_many_from_address()
        if not await device_refs.reserve_login_attempt(gw.rt.pool, page.ref_hash, MAX_FAILED_LOGINS):
            log.warning("device_login_locked", reason="link")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            return render_message(_("Too many attempts"),
                                  _("This link was locked after too many failed sign-in attempts."), status=410)
        if not await DEVICE_LOGIN.allow(gw.rt.pool, username, gw.rt.clock.now()):
            log.warning("device_login_locked", reason="username")
            metrics.DEVICE_LOGINS.labels("locked").inc()
            return _login_page(request, gw, page, status=429,
                               error=_("Too many failed sign-in attempts. Try again in 15 minutes."))
        # Only the user the request names can sign in here: any other account fails exactly
        # like a wrong password.
        user = await check_password(gw, username, form.get("password", ""), only=page.request.sub)
        if user is None:
            return _login_failed(request, gw, page, username)
        if page.required_acr == MFA:
            if user.totp_secret_enc is None:
                log.info("device_login_without_authenticator")
                return render_message(_("An authenticator app is needed"),
                                      _("This request needs a code from an authenticator app, and "
                                        "your account has none set up."), status=403)
            if not await check_totp(gw, user, form.get("totp", "")):
                return _login_failed(request, gw, page, username)
        await device_refs.release_login_attempt(gw.rt.pool, page.ref_hash)
        await DEVICE_LOGIN.succeeded(gw.rt.pool, username)
        await source.succeeded()
        log.info("device_login_succeeded", acr=page.required_acr)
        metrics.DEVICE_LOGINS.labels("ok").inc()
    response = web.Response(status=303, headers={"Location": page.base})
    cookies.start_session(response, gw.rt.secrets, cookies.DeviceSession(
        binding=page.ref_hash.hex(), sub=user.sub, auth_time=gw.rt.clock.now(),
        acr=page.required_acr, csrf_token=new_token(24)), secure=cookies.secure_cookies(gw.rt.settings.development))
    return response


def _login_failed(request: web.Request, gw: Gateway, page: Page, username: str) -> web.Response:
    """A wrong password, another account and a wrong code count alike and read alike (the
    attempt was counted before the check)."""
    log.info("device_login_failed")
    metrics.DEVICE_LOGINS.labels("bad_credentials").inc()
    error = (_("The username, password or code is not correct.") if page.required_acr == MFA
             else _("The username or password is not correct."))
    return _login_page(request, gw, page, status=401, error=error, username=username)


async def decide(request: web.Request) -> web.Response:
    gw = gateway(request)
    page = await _load(gw, request.match_info["ref"])
    form = await read_page_form(request)
    session = cookies.read_session(request, gw.rt.secrets, page.ref_hash.hex())
    if session is None or not page.signed_in(session):
        return _login_page(request, gw, page, status=401, error=_("Please sign in first."))
    if not cookies.tokens_match(session.csrf_token, form.get("csrf_token")):
        return render_message(_("Session mismatch"),
                              _("Please reload the page and try again."), status=403)
    decision = form.get("decision")
    if decision not in ("approve", "deny"):
        return render_message(_("Choose approve or deny"),
                              _("The request was not answered. Go back and choose."), status=400)
    decided = await lifecycle.decide(
        gw.rt.pool, page.request, approved=decision == "approve", now=gw.rt.clock.now(),
        auth_time=session.auth_time, acr=session.acr, service=gw.rt.service)
    if decided is None:
        return render_message(_("This request is closed"),
                              _("This sign-in request was already answered or has expired."),
                              status=410)
    with bind_request(auth_req_id=gw.rt.auth_req_id(decided)):
        log.info("auth_request_decided", decision=decided.status)
    if decided.status is Status.APPROVED:
        response = render_message(_("Approved"),
                                  _("You approved the request from %(client)s. You can return to the other "
                                    "device.") % {"client": page.client_name}, status=200)
    else:
        response = render_message(_("Denied"),
                                  _("You denied the request from %(client)s. Nothing was shared.")
                                  % {"client": page.client_name}, status=200)
    cookies.end_session(response)
    return response
