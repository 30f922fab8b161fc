"""Limits on guessing secrets that people choose (passwords, TOTP codes, user codes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from shared.db import Connection
from shared.repositories import throttle

WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class AttemptLimit:
    purpose: str
    max_attempts: int
    window: timedelta = WINDOW

    def key(self, subject: str) -> str:
        return f"{self.purpose}:{subject.lower()}"

    async def allow(self, conn: Connection | asyncpg.Pool, subject: str, now: datetime) -> bool:
        """Count this attempt; False, without counting it, once the subject used up its
        attempts in the window."""
        return await throttle.count_attempt(conn, self.key(subject), now, self.window, self.max_attempts)

    async def succeeded(self, conn: Connection | asyncpg.Pool, subject: str) -> None:
        """Forget the subject's failures (a username that signed in)."""
        await throttle.clear(conn, self.key(subject))

    async def release(self, conn: Connection | asyncpg.Pool, subject: str) -> None:
        """Un-count one attempt that succeeded, keeping the failures (a source address, where
        one good sign-in must not wipe an attacker's record)."""
        await throttle.release_attempt(conn, self.key(subject))


# Sign-ins on the device pages and the account page, per username, across every link.
DEVICE_LOGIN = AttemptLimit("login", max_attempts=10)
ACCOUNT_LOGIN = AttemptLimit("account", max_attempts=5)
# user_code guesses at /bc-authorize, per user.
USER_CODE = AttemptLimit("user_code", max_attempts=5)


def sign_ins_per_address(max_failures: int) -> AttemptLimit:
    """Failed sign-ins from one source address, on every page (deviceLoginMaxFailuresPerAddress)."""
    return AttemptLimit("address", max_attempts=max_failures)
