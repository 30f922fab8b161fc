"""A full rotation of the master key while a request is pending and its client keeps
authenticating: the services restart with CIBA_SECRET_KEYS="new,old", `ciba-admin secrets
rekey` re-keys what is stored, and then the old key is dropped: the pending request, the
client's secret, the signing keys, a sealed configuration secret and a TOTP secret all still
work under the new key alone.

A database of its own: the rest of the suite runs under the development key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.fernet import Fernet

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared import totp
from shared.config import store as config_store
from shared.repositories import users
from shared.runtime import open_runtime
from shared.settings import Settings
from tests.support.admin_cli import admin_json
from tests.support.backing import Backing, fresh_backing
from tests.support.gateway_client import Client, add_user, decide, register

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
CIBA = "urn:openid:params:grant-type:ciba"
WEBHOOK = {"notifier": "webhook", "webhook": {"url": "https://hooks.example.com/ciba", "secret": "hook-secret-1"}}


@pytest.fixture(scope="module")
def own_backing(server_urls) -> Iterator[Backing]:
    with fresh_backing(server_urls, "rekey") as backing:
        yield backing


def _settings(backing: Backing, *keys: str) -> Settings:
    return Settings(env="development", secret_keys=",".join(keys), database_url=backing.database_url,
                    amqp_url=backing.amqp_url, bus_namespace=backing.namespace, migrate_on_start=False,
                    log_format="console")


@asynccontextmanager
async def gateway_with(settings: Settings) -> AsyncIterator[tuple[Gateway, TestClient]]:
    """A gateway process as it starts with these master keys."""
    async with open_runtime(settings, "gateway") as rt:
        gw = await build_gateway(rt)
        try:
            async with TestClient(TestServer(create_app(gw))) as http:
                yield gw, http
        finally:
            await gw.close()


async def _token(http: TestClient, client: Client, **form: str) -> tuple[int, dict]:
    answer = await http.post("/token", data=form, headers=client.basic)
    return answer.status, await answer.json()


async def _start(http: TestClient, client: Client, username: str) -> str:
    answer = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": username}, headers=client.basic)
    assert answer.status == 200, await answer.text()
    return (await answer.json())["auth_req_id"]


async def _refresh_token(gw: Gateway, http: TestClient, client: Client, username: str) -> str:
    auth_req_id = await _start(http, client, username)
    await decide(gw, auth_req_id, approved=True)
    status, body = await _token(http, client, grant_type=CIBA, auth_req_id=auth_req_id)
    assert status == 200, body
    return body["refresh_token"]


async def test_a_full_rotation_while_a_request_is_pending_and_its_client_keeps_authenticating(own_backing) -> None:
    # Before: the old key alone.
    async with gateway_with(_settings(own_backing, OLD)) as (gw, http):
        client = await register(http)
        # A client registered before secrets were also kept encrypted: its hash alone.
        legacy = await register(http)
        await gw.rt.pool.execute("UPDATE clients SET client_secret_enc = NULL WHERE client_id = $1", legacy.client_id)
        idle = await register(http)  # does not authenticate until the old key is gone
        user = await add_user(gw)
        pending = await _start(http, client, user.username)
        unused_refresh = await _refresh_token(gw, http, client, user.username)
        used_refresh = await _refresh_token(gw, http, client, user.username)
        async with gw.rt.pool.acquire() as conn:
            await config_store.set_property(conn, "development", gw.rt.secrets, "cibaEndUserNotificationConfig",
                                            WEBHOOK)
            totp_secret = totp.new_secret()
            await users.enrol_totp(conn, user.username, gw.rt.secrets.encrypt(totp_secret))

    # The services restart with the new key first; the rekey runs while the client polls.
    rotating = _settings(own_backing, NEW, OLD)
    async with gateway_with(rotating) as (gw, http):
        answers: list[tuple[int, str]] = []
        done = asyncio.Event()

        async def poll_throughout() -> None:
            while not done.is_set():
                status, body = await _token(http, client, grant_type=CIBA, auth_req_id=pending)
                answers.append((status, body.get("error", "")))
                await asyncio.sleep(0.02)

        polling = asyncio.ensure_future(poll_throughout())
        status, refreshed = await _token(http, client, grant_type="refresh_token", refresh_token=used_refresh)
        assert status == 200, refreshed  # found under the old key, its successor issued under the new
        await _start(http, legacy, user.username)  # authenticating re-hashes its secret under the new key
        summary = await asyncio.to_thread(admin_json, rotating, "secrets", "rekey")
        await asyncio.sleep(0.2)
        done.set()
        await polling

        assert answers and {error for _, error in answers} <= {"authorization_pending", "slow_down"}, answers
        tables = summary["tables"]
        assert tables["auth_requests"]["rekeyed"] >= 3, summary
        # Two clients authenticated meanwhile, which moved their secrets to the new key already.
        assert tables["clients"] == {"rows": 3, "rekeyed": 1}
        assert tables["signing_keys"]["rekeyed"] == 2 and tables["users"]["rekeyed"] == 1
        assert tables["as_config"]["rekeyed"] == 1
        assert summary["refresh_tokens_issued_before"] >= 2 and summary["older_keys_needed_until"] is not None
        assert summary["clients_with_hash_only"] == 0  # the legacy client moved when it authenticated
        # Run again, it finds nothing left to do: an interrupted rekey just runs again.
        again = await asyncio.to_thread(admin_json, rotating, "secrets", "rekey")
        assert all(counts["rekeyed"] == 0 for counts in again["tables"].values())

    # After: the old key dropped.
    async with gateway_with(_settings(own_backing, NEW)) as (gw, http):
        status, body = await _token(http, client, grant_type=CIBA, auth_req_id=pending)
        assert (status, body["error"]) in {(400, "authorization_pending"), (400, "slow_down")}
        await decide(gw, pending, approved=True)
        status, body = await _token(http, client, grant_type=CIBA, auth_req_id=pending)
        assert status == 200, body  # signed with a private key re-encrypted under the new master key
        await _start(http, legacy, user.username)
        await _start(http, idle, user.username)  # re-hashed by the rekey
        assert gw.rt.config.cibaEndUserNotificationConfig == WEBHOOK
        stored = await users.get_by_username(gw.rt.pool, user.username)
        assert gw.rt.secrets.decrypt(stored.totp_secret_enc) == totp_secret
        status, body = await _token(http, client, grant_type="refresh_token", refresh_token=refreshed["refresh_token"])
        assert status == 200, body
        # The one thing an old key still held: a refresh token issued under it and never used.
        status, body = await _token(http, client, grant_type="refresh_token", refresh_token=unused_refresh)
        assert (status, body["error"]) == (400, "invalid_grant")
