"""/bc-deviceRegistration's rules: which id_token_hint names the user (only an unexpired
id_token this server issued to the calling client), and what is stored for the device."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest

from services.gateway.endpoints import device_registration
from shared.config.model import ServerConfig
from shared.errors import InvalidRequest, ProtocolError, UnknownUserId
from shared.jose.tokens import id_token_claims, sign
from tests.unit.issued_tokens import ISSUER, NOW, SECRETS, client, keyring

CONFIG = ServerConfig(backchannelMaxDevicesPerUser=3)


def _id_token(typ: str = "JWT", **overrides: Any) -> str:
    claims = id_token_claims(issuer=ISSUER, client_id="app", sub="user-1", now=NOW - timedelta(minutes=1),
                             lifetime=600, auth_time=None, acr=None)
    return sign(keyring(), "RS256", {**claims, **overrides}, typ=typ)


def _subject(id_token: str) -> object:
    try:
        return device_registration._subject(keyring(), ISSUER, CONFIG, client("app"), id_token, NOW)
    except ProtocolError as error:
        return error.error, error.description


@pytest.mark.parametrize(("id_token", "expected"), [
    (lambda: _id_token(), "user-1"),
    (lambda: _id_token(aud="another-app"), "it was issued to another client"),
    (lambda: _id_token(iss="https://elsewhere.example"), "it was not issued by this server"),
    (lambda: _id_token(typ="at+jwt"), "it is not an id_token"),
    (lambda: _id_token(exp=int(NOW.timestamp()) - 60), "the JWT has expired"),
    (lambda: _id_token(exp=int(NOW.timestamp()) + 7200), "the JWT lives longer than 3600 seconds"),
    (lambda: _id_token(sub=42), "the JWT has no sub claim"),
    (lambda: "not-a-jwt", "not a well-formed signed JWT"),
], ids=["own id_token", "another client's", "another issuer's", "an access token", "expired", "too long-lived",
        "sub not a string", "not a jwt"])
def test_which_id_token_hint_names_the_user(id_token: Callable[[], str], expected: str) -> None:
    """The user's sub, or invalid_request saying why the hint is refused."""
    refused = (InvalidRequest.error, f"id_token_hint: {expected}")
    assert _subject(id_token()) == (expected if expected == "user-1" else refused)


class FakeDevices:
    def __init__(self, users: set[str]) -> None:
        self.users = users
        self.registered: list[tuple[str, bytes, str, datetime, int]] = []

    async def user_exists(self, sub: str) -> bool:
        return sub in self.users

    async def register(self, sub: str, token_hash: bytes, token_enc: str, now: datetime, *, keep: int) -> UUID:
        self.registered.append((sub, token_hash, token_enc, now, keep))
        return uuid4()


async def test_a_device_is_stored_hashed_and_encrypted_with_the_per_user_cap() -> None:
    devices = FakeDevices({"user-1"})
    await device_registration.record_device(devices, SECRETS, CONFIG, "user-1", "push-token", NOW)
    [(sub, token_hash, token_enc, now, keep)] = devices.registered
    assert (sub, now, keep) == ("user-1", NOW, 3)
    assert SECRETS.verify_hash("push-token", token_hash) and SECRETS.decrypt(token_enc) == "push-token"


async def test_a_hint_naming_no_user_is_unknown_user_id_and_stores_nothing() -> None:
    devices = FakeDevices(set())
    with pytest.raises(UnknownUserId):
        await device_registration.record_device(devices, SECRETS, CONFIG, "user-1", "push-token", NOW)
    assert devices.registered == []


@pytest.mark.parametrize(("value", "expected"), [
    ("  push-token \n", "push-token"),
    (None, "device_registration_token is required"),
    ("   ", "device_registration_token is required"),
    ("x" * 4097, "device_registration_token must not exceed 4096 characters"),
])
def test_the_push_token(value: str | None, expected: str) -> None:
    try:
        assert device_registration._push_token(value) == expected
    except InvalidRequest as error:
        assert error.description == expected


@pytest.mark.parametrize(("allowed", "may"), [([], False), (["other"], False), (["app"], True)])
def test_only_listed_clients_register_devices(allowed: list[str], may: bool) -> None:
    config = ServerConfig(backchannelDeviceRegistrationClients=allowed)
    try:
        device_registration.check_client_may_register_devices(client("app"), config)
        assert may
    except ProtocolError as error:
        assert not may and (error.error, error.status) == ("unauthorized_client", 403)
