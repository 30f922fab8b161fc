"""Signing in on the device pages (services/gateway/device/credentials.py), as tables over an
account store and a password checker in memory: who a password signs in, that every attempt
costs one check, and that a TOTP code is good once."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet

from services.gateway.device.credentials import check_password, check_totp
from shared import totp
from shared.crypto import Secrets
from shared.repositories.users import User

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRETS = Secrets(Fernet.generate_key())
TOTP_SECRET = totp.new_secret()
ALICE = User(sub="u-alice", username="alice", email=None, phone_number=None, password_hash="hash:alice-password")
BOB = User(sub="u-bob", username="bob", email=None, phone_number=None, password_hash="hash:bob-password")


@dataclass
class Accounts:
    """credentials.Accounts over a list; a TOTP step is used as the conditional update does."""

    people: list[User]
    last_steps: dict[str, int] = field(default_factory=dict)

    async def by_username(self, username: str) -> User | None:
        return next((u for u in self.people if u.username == username), None)

    async def use_totp_step(self, sub: str, step: int) -> bool:
        if self.last_steps.get(sub, -1) >= step:
            return False
        self.last_steps[sub] = step
        return True


@dataclass
class Checks:
    """credentials.PasswordVerifier: "hash:<password>" is each password's hash."""

    verified: list[str | None] = field(default_factory=list)

    async def verify(self, stored_hash: str | None, secret: str) -> bool:
        self.verified.append(stored_hash)
        return stored_hash == f"hash:{secret}"


@pytest.mark.parametrize(("username", "password", "only", "signed_in", "checked_hash"), [
    ("alice", "alice-password", None, ALICE, ALICE.password_hash),
    ("alice", "wrong", None, None, ALICE.password_hash),
    ("alice", "alice-password", "u-alice", ALICE, ALICE.password_hash),
    # Another account than the request names fails like a wrong password, and costs the same.
    ("bob", "bob-password", "u-alice", None, None),
    ("nobody", "alice-password", None, None, None),
    ("", "alice-password", None, None, None),
])
async def test_a_password_signs_in_its_own_account_only(username, password, only, signed_in, checked_hash) -> None:
    checks = Checks()
    user = await check_password(Accounts([ALICE, BOB]), checks, username, password, only=only)
    assert user == signed_in
    assert checks.verified == [checked_hash]  # one check every time: the timing tells nothing


async def test_a_totp_code_is_good_once() -> None:
    alice = replace(ALICE, totp_secret_enc=SECRETS.encrypt(TOTP_SECRET))
    accounts = Accounts([alice])
    code = totp.code_at(TOTP_SECRET, totp.step_at(NOW))
    assert await check_totp(accounts, SECRETS, alice, code, NOW)
    assert not await check_totp(accounts, SECRETS, alice, code, NOW)


@pytest.mark.parametrize("code", ["", "12345", "abcdef", "1234567"])
async def test_a_malformed_totp_code_fails(code) -> None:
    alice = replace(ALICE, totp_secret_enc=SECRETS.encrypt(TOTP_SECRET))
    assert not await check_totp(Accounts([alice]), SECRETS, alice, code, NOW)


async def test_an_account_without_an_authenticator_has_no_good_code() -> None:
    assert not await check_totp(Accounts([ALICE]), SECRETS, ALICE, totp.code_at(TOTP_SECRET, totp.step_at(NOW)), NOW)
