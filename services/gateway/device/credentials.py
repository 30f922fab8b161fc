"""Checking what a user types into the device pages: the password (argon2, on the gateway's
bounded pool of password checks) and the TOTP code of their authenticator app (shared.totp),
which is good once; and the limit on failed sign-ins per source address."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import asyncpg
from aiohttp import web

from services.gateway.device.locale import gettext as _
from services.gateway.device.render import Templates
from shared import totp
from shared.crypto import Secrets
from shared.domain.attempts_limit import WINDOW, sign_ins_per_address
from shared.repositories.users import User


class Accounts(Protocol):
    """The active users, as signing in reads them."""

    async def by_username(self, username: str) -> User | None: ...

    async def use_totp_step(self, sub: str, step: int) -> bool:
        """Record ``step`` as the user's last; False when it (or a later one) was used already."""
        ...


class PasswordVerifier(Protocol):
    """services.gateway.password_checks.PasswordChecks: raises ChecksBusy when it is full."""

    async def verify(self, stored_hash: str | None, secret: str) -> bool: ...


async def check_password(accounts: Accounts, checks: PasswordVerifier, username: str, password: str, *,
                         only: str | None = None) -> User | None:
    """The user when the password is theirs, else None. With ``only`` (a sub), any other
    account fails the same way as a wrong password, so a request's page cannot be used to
    test the passwords of other accounts. An unknown username costs one argon2 verification
    too, so the answer's timing does not tell whether the account exists. Raises ChecksBusy
    when the pool of password checks is full."""
    user = await accounts.by_username(username) if username else None
    if user is not None and only is not None and user.sub != only:
        user = None
    password_ok = await checks.verify(user.password_hash if user else None, password)
    return user if user is not None and password_ok else None


async def check_totp(accounts: Accounts, secrets: Secrets, user: User, code: str, now: datetime) -> bool:
    """Whether ``code`` is the user's TOTP code now and unused. The matched step is recorded with
    a conditional update, so of two logins racing with one code only one succeeds."""
    if user.totp_secret_enc is None:
        return False
    step = totp.verify(secrets.decrypt(user.totp_secret_enc), code, now, user.totp_last_step)
    return step is not None and await accounts.use_totp_step(user.sub, step)


class SourceAttempt:
    """One sign-in counted against its source address before the password is checked (so
    concurrent guesses cannot outrun the limit), and taken back if it succeeds: what
    accumulates is failures (deviceLoginMaxFailuresPerAddress per 15 minutes, 0 = off)."""

    def __init__(self, pool: asyncpg.Pool, address: str, max_failures: int) -> None:
        self._pool = pool
        self._limit = sign_ins_per_address(max_failures)
        self._address = address

    async def allowed(self, now: datetime) -> bool:
        if self._limit.max_attempts == 0:
            return True
        return await self._limit.allow(self._pool, self._address, now)

    async def succeeded(self) -> None:
        if self._limit.max_attempts:
            await self._limit.release(self._pool, self._address)


def too_many_from_address(templates: Templates) -> web.Response:
    return templates.message(_("Too many attempts"), _("Too many failed sign-in attempts came from your network. "
                                                       "Try again in 15 minutes."), status=429,
                             headers={"Retry-After": str(int(WINDOW.total_seconds()))})
