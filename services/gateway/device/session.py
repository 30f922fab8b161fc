"""The device pages' cookies.

- ``ciba_csrf``: a random token the login form echoes back (double-submit), so another site
  cannot post a login in the user's browser.
- ``ciba_device``: after a successful login, the session: encrypted and authenticated with the
  server's key (Fernet), bound to one page reference, carrying the user's sub, the time and
  level of authentication, and the consent form's CSRF token. HttpOnly, SameSite=Strict,
  Secure outside development, scoped to /device/.
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


@dataclass(frozen=True)
class DeviceSession:
    ref_hash: str
    sub: str
    auth_time: datetime
    acr: str
    csrf_token: str


def _set(response: web.StreamResponse, name: str, value: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(name, value, path=COOKIE_PATH, httponly=True, samesite="Strict",
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
                  secure: bool) -> None:
    payload = json.dumps({"r": session.ref_hash, "s": session.sub, "c": session.csrf_token,
                          "t": int(session.auth_time.timestamp()), "a": session.acr})
    _set(response, SESSION_COOKIE, secrets.encrypt(payload), secure=secure,
         max_age=SESSION_LIFETIME_SEC)


def read_session(request: web.Request, secrets: Secrets, ref_hash: str) -> DeviceSession | None:
    """The session for this page reference, or None (absent, expired, forged, other page)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(secrets.decrypt(raw, ttl=SESSION_LIFETIME_SEC))
        session = DeviceSession(ref_hash=data["r"], sub=data["s"], csrf_token=data["c"],
                                auth_time=datetime.fromtimestamp(data["t"], UTC), acr=data["a"])
    except (DecryptionError, ValueError, KeyError, TypeError):
        return None
    return session if constant_time_equal(session.ref_hash, ref_hash) else None


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path=COOKIE_PATH)
