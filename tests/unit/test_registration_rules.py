"""Dynamic registration (RFC 7591) and the client's own management of it (RFC 7592): the
information document, what is stored, and who may read or replace a registration."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from services.gateway.endpoints import client_configuration, register
from shared.config.model import ServerConfig
from shared.domain import client_metadata
from shared.errors import InvalidClientMetadata, InvalidRequest, InvalidToken, ProtocolError
from shared.repositories.clients import CIBA_GRANT, Client
from tests.unit.issued_tokens import ISSUER, NOW, SECRETS, client

METADATA = {"backchannel_token_delivery_mode": "poll", "grant_types": [CIBA_GRANT, "refresh_token"],
            "client_name": "Shop", "some_unknown_member": "ignored"}


class FakeRegistrations:
    """Registrations in a dict: client_id -> (client, hash of its registration access token)."""

    def __init__(self) -> None:
        self.stored: dict[str, tuple[Client, bytes]] = {}
        self.lookups: list[str] = []

    async def add(self, client: Client, registration_token_hash: bytes) -> None:
        self.stored[client.client_id] = (client, registration_token_hash)

    async def registration_token_hash(self, client_id: str) -> bytes | None:
        self.lookups.append(client_id)
        return self.stored[client_id][1] if client_id in self.stored else None

    async def get(self, client_id: str) -> Client | None:
        return self.stored[client_id][0] if client_id in self.stored else None

    async def replace(self, client: Client) -> bool:
        return False

    async def remove(self, client_id: str) -> bool:
        return self.stored.pop(client_id, None) is not None


async def _register(registrations: FakeRegistrations, raw: dict[str, Any] = METADATA,
                    config: ServerConfig = ServerConfig()) -> dict[str, Any]:
    return await register.register(registrations, SECRETS, config, client_metadata.parse(raw), issuer=ISSUER,
                                   development=False, now=NOW)


async def test_registering_answers_the_information_with_the_secret_once() -> None:
    registrations = FakeRegistrations()
    answer = await _register(registrations)
    client_id = answer["client_id"]
    assert answer["registration_client_uri"] == f"{ISSUER}/register/{client_id}"
    assert (answer["client_id_issued_at"], answer["client_secret_expires_at"]) == (int(NOW.timestamp()), 0)
    assert (answer["client_name"], answer["backchannel_token_delivery_mode"]) == ("Shop", "poll")
    assert "some_unknown_member" not in answer  # RFC 7591 2: ignored
    stored, token_hash = registrations.stored[client_id]
    assert stored.client_secret_hash is not None and stored.client_secret_enc is not None
    assert SECRETS.verify_hash(answer["client_secret"], stored.client_secret_hash)
    assert SECRETS.decrypt(stored.client_secret_enc) == answer["client_secret"]
    assert SECRETS.verify_hash(answer["registration_access_token"], token_hash)
    assert register.information(ISSUER, stored, answer["registration_access_token"]) == {
        k: v for k, v in answer.items() if k != "client_secret"}


async def test_two_registrations_share_nothing() -> None:
    registrations = FakeRegistrations()
    first, second = await _register(registrations), await _register(registrations)
    for field in ("client_id", "client_secret", "registration_access_token"):
        assert first[field] != second[field]


async def test_metadata_the_server_does_not_support_is_refused_and_nothing_stored() -> None:
    registrations = FakeRegistrations()
    with pytest.raises(InvalidClientMetadata):
        await _register(registrations, config=ServerConfig(backchannelTokenDeliveryModesSupported=["ping"]))
    assert registrations.stored == {}


def test_the_information_document_never_carries_the_secret() -> None:
    registered = dataclasses.replace(client("c1"), metadata={"client_name": "Shop", "scope": "openid"})
    assert register.information(ISSUER, registered, "rat") == {
        "client_name": "Shop", "scope": "openid", "client_id": "c1",
        "client_id_issued_at": int(registered.created_at.timestamp()), "client_secret_expires_at": 0,
        "registration_access_token": "rat", "registration_client_uri": f"{ISSUER}/register/c1"}


# /register/{client_id}: the registration access token


async def _authorized(registrations: FakeRegistrations, client_id: str, token: str) -> object:
    try:
        return (await client_configuration.authorized(registrations, SECRETS, client_id, token)).client_id
    except ProtocolError as error:
        return error.error, error.description


NOT_VALID = (InvalidToken.error, "the registration access token is not valid for this client")


@pytest.mark.parametrize(("client_id", "token", "expected"), [
    ("c1", "token-1", "c1"),
    ("c1", "token-2", NOT_VALID),
    ("c2", "token-1", NOT_VALID),
    ("nobody", "token-1", NOT_VALID),
    ("x" * 201, "token-1", NOT_VALID),
], ids=["its own token", "another client's token", "a token for another client", "unknown client",
        "over-long client_id"])
async def test_only_the_clients_own_token_opens_its_registration(client_id: str, token: str, expected: object) -> None:
    registrations = FakeRegistrations()
    for number in (1, 2):
        await registrations.add(client(f"c{number}"), SECRETS.hash(f"token-{number}"))
    registrations.stored["x" * 201] = (client("x" * 201), SECRETS.hash("token-1"))
    assert await _authorized(registrations, client_id, token) == expected
    assert all(len(looked_up) <= 200 for looked_up in registrations.lookups)


async def test_a_client_removed_between_the_two_reads_is_not_valid() -> None:
    registrations = FakeRegistrations()
    await registrations.add(client("c1"), SECRETS.hash("token-1"))

    async def gone(client_id: str) -> Client | None:
        return None

    registrations.get = gone  # type: ignore[method-assign]
    assert await _authorized(registrations, "c1", "token-1") == NOT_VALID


SECRET_HASH = SECRETS.hash("current-secret")
NO_CLIENT_ID = "the body must carry the client's client_id"
NOT_CURRENT = "client_secret is not the client's current secret"


@pytest.mark.parametrize(("secret_hash", "raw", "error"), [
    (SECRET_HASH, {"client_id": "c1"}, None),
    (SECRET_HASH, {"client_id": "c1", "client_secret": "current-secret"}, None),
    (SECRET_HASH, {}, NO_CLIENT_ID),
    (SECRET_HASH, {"client_id": "c2"}, NO_CLIENT_ID),
    (SECRET_HASH, {"client_id": "c1", "client_secret": "old-secret"}, NOT_CURRENT),
    (SECRET_HASH, {"client_id": "c1", "client_secret": 42}, NOT_CURRENT),
    (None, {"client_id": "c1", "client_secret": "current-secret"}, NOT_CURRENT),
])
def test_what_a_replacement_body_must_carry(secret_hash: bytes | None, raw: dict[str, Any], error: str | None) -> None:
    registered = dataclasses.replace(client("c1"), client_secret_hash=secret_hash)
    if error is None:
        client_configuration.check_replacement(registered, raw, SECRETS)
        return
    with pytest.raises(InvalidRequest) as raised:
        client_configuration.check_replacement(registered, raw, SECRETS)
    assert raised.value.description == error
