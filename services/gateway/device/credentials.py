"""Checking what a user types into the device pages: the password (argon2, off the event loop)
and the TOTP code of their authenticator app (shared.totp), which is good once."""

from __future__ import annotations

import asyncio

from services.gateway.context import Gateway
from shared import totp
from shared.passwords import verify_password
from shared.repositories import users
from shared.repositories.users import User


async def check_password(gw: Gateway, username: str, password: str, *, only: str | None = None) -> User | None:
    """The user when the password is theirs, else None. With ``only`` (a sub), any other
    account fails the same way as a wrong password, so a request's page cannot be used to
    test the passwords of other accounts. An unknown username costs one argon2 verification
    too, so the answer's timing does not tell whether the account exists."""
    user = await users.get_by_username(gw.rt.pool, username) if username else None
    if user is not None and only is not None and user.sub != only:
        user = None
    password_ok = await asyncio.get_running_loop().run_in_executor(
        None, verify_password, user.password_hash if user else None, password)
    return user if user is not None and password_ok else None


async def check_totp(gw: Gateway, user: User, code: str) -> bool:
    """Whether ``code`` is the user's TOTP code now and unused. The matched step is recorded with
    a conditional update, so of two logins racing with one code only one succeeds."""
    if user.totp_secret_enc is None:
        return False
    secret = gw.rt.secrets.decrypt(user.totp_secret_enc)
    step = totp.verify(secret, code, gw.rt.clock.now(), user.totp_last_step)
    return step is not None and await users.use_totp_step(gw.rt.pool, user.sub, step)
