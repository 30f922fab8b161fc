"""The device pages' cookies.

- ``ciba_csrf``: a random token the login form echoes back (double-submit), so another site
  cannot post a login in the user's browser.
- ``ciba_device``: after a successful login, the session: encrypted and authenticated with the
  server's key (Fernet), bound to one page reference, carrying the user's sub, the time and
  level of authentication, and the consent form's CSRF token. HttpOnly, SameSite=Strict,
  Secure outside development, scoped to /device/.
- ``ciba_account``: the same for the account pages (/device/account/), bound to the fixed
  purpose ``ACCOUNT`` instead of a reference, so neither session opens the other's pages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from aiohttp import web

from shared.crypto import DecryptionError, Secrets, constant_time_equal, new_token

SESSION_COOKIE = "ciba_device"
CSRF_COOKIE = "ciba_csrf"
COOKIE_PATH = "/device/"
SESSION_LIFETIME_SEC = 900
ACCOUNT = "account"  # the binding of account-page sessions; a reference hash is 64 hex digits


@dataclass(frozen=True)
class CookieScope:
    name: str
    path: str


REQUEST_PAGES = CookieScope(SESSION_COOKIE, COOKIE_PATH)
ACCOUNT_PAGES = CookieScope("ciba_account", "/device/account/")


@dataclass(frozen=True)
class DeviceSession:
    binding: str  # what the session is for: a page reference's hash (hex), or ACCOUNT
    sub: str
    auth_time: datetime
    acr: str
    csrf_token: str


def secure_cookies(settings_development: bool) -> bool:
    """Cookies are Secure everywhere but in development (plain http on loopback)."""
    return not settings_development


def _set(response: web.StreamResponse, name: str, value: str, *, secure: bool, max_age: int,
         path: str = COOKIE_PATH) -> None:
    response.set_cookie(name, value, path=path, httponly=True, samesite="Strict",
                        secure=secure, max_age=max_age)


def login_csrf_token(request: web.Request) -> str:
    """The browser's CSRF token if it has one, else a new one (set it with set_csrf_cookie)."""
    return request.cookies.get(CSRF_COOKIE) or new_token(24)


def set_csrf_cookie(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    _set(response, CSRF_COOKIE, token, secure=secure, max_age=SESSION_LIFETIME_SEC)


def login_csrf_ok(request: web.Request, posted: str | None) -> bool:
    return tokens_match(request.cookies.get(CSRF_COOKIE), posted)


def tokens_match(expected: str | None, posted: str | None) -> bool:
    return bool(expected and posted and constant_time_equal(expected, posted))


def start_session(response: web.StreamResponse, secrets: Secrets, session: DeviceSession, *,
                  secure: bool, scope: CookieScope = REQUEST_PAGES) -> None:
    payload = json.dumps({"r": session.binding, "s": session.sub, "c": session.csrf_token,
                          "t": int(session.auth_time.timestamp()), "a": session.acr})
    _set(response, scope.name, secrets.encrypt(payload), secure=secure,
         max_age=SESSION_LIFETIME_SEC, path=scope.path)


def read_session(request: web.Request, secrets: Secrets, binding: str, *,
                 scope: CookieScope = REQUEST_PAGES) -> DeviceSession | None:
    """The session bound to ``binding``, or None (absent, expired, forged, other page)."""
    raw = request.cookies.get(scope.name)
    if not raw:
        return None
    try:
        data = json.loads(secrets.decrypt(raw, ttl=SESSION_LIFETIME_SEC))
        session = DeviceSession(binding=data["r"], sub=data["s"], csrf_token=data["c"],
                                auth_time=datetime.fromtimestamp(data["t"], UTC), acr=data["a"])
    except (DecryptionError, ValueError, KeyError, TypeError):
        return None
    return session if constant_time_equal(session.binding, binding) else None


def end_session(response: web.StreamResponse, *, scope: CookieScope = REQUEST_PAGES) -> None:
    response.del_cookie(scope.name, path=scope.path)
