"""Checking what a user types into the device pages: the password (argon2, on the gateway's
bounded pool of password checks) and the TOTP code of their authenticator app (shared.totp),
which is good once; and the limit on failed sign-ins per source address."""

from __future__ import annotations

from aiohttp import web

from services.gateway.client_address import client_address
from services.gateway.context import Gateway
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import render_message
from shared import totp
from shared.domain.attempts_limit import WINDOW, sign_ins_per_address
from shared.repositories import users
from shared.repositories.users import User


async def check_password(gw: Gateway, username: str, password: str, *, only: str | None = None) -> User | None:
    """The user when the password is theirs, else None. With ``only`` (a sub), any other
    account fails the same way as a wrong password, so a request's page cannot be used to
    test the passwords of other accounts. An unknown username costs one argon2 verification
    too, so the answer's timing does not tell whether the account exists. Raises ChecksBusy
    when the pool of password checks is full."""
    user = await users.get_by_username(gw.rt.pool, username) if username else None
    if user is not None and only is not None and user.sub != only:
        user = None
    password_ok = await gw.password_checks.verify(user.password_hash if user else None, password)
    return user if user is not None and password_ok else None


async def check_totp(gw: Gateway, user: User, code: str) -> bool:
    """Whether ``code`` is the user's TOTP code now and unused. The matched step is recorded with
    a conditional update, so of two logins racing with one code only one succeeds."""
    if user.totp_secret_enc is None:
        return False
    secret = gw.rt.secrets.decrypt(user.totp_secret_enc)
    step = totp.verify(secret, code, gw.rt.clock.now(), user.totp_last_step)
    return step is not None and await users.use_totp_step(gw.rt.pool, user.sub, step)


class SourceAttempt:
    """One sign-in counted against its source address before the password is checked (so
    concurrent guesses cannot outrun the limit), and taken back if it succeeds: what
    accumulates is failures (deviceLoginMaxFailuresPerAddress per 15 minutes, 0 = off)."""

    def __init__(self, gw: Gateway, request: web.Request) -> None:
        self._gw = gw
        self._limit = sign_ins_per_address(gw.rt.config.deviceLoginMaxFailuresPerAddress)
        self._address = client_address(request, gw.rt.settings.trusted_proxy_networks)

    async def allowed(self) -> bool:
        if self._limit.max_attempts == 0:
            return True
        return await self._limit.allow(self._gw.rt.pool, self._address, self._gw.rt.clock.now())

    async def succeeded(self) -> None:
        if self._limit.max_attempts:
            await self._limit.release(self._gw.rt.pool, self._address)


def too_many_from_address() -> web.Response:
    return render_message(_("Too many attempts"), _("Too many failed sign-in attempts came from your network. "
                                                    "Try again in 15 minutes."), status=429,
                          headers={"Retry-After": str(int(WINDOW.total_seconds()))})
