"""Signing key rotation with an injected clock: a rotated key is published before it signs,
tokens verify against /jwks at every moment, an id_token_hint signed with the previous key is
accepted until that key is retired, and two gateways, told of every change by NOTIFY, never
sign with a key the other does not publish.

A database of its own: a retirement here would otherwise stop the key every other test signs
with.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import datetime

import pytest
from aiohttp.test_utils import TestClient, TestServer
from joserfc import jwt
from joserfc.jwk import KeySet

from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.clock import FrozenClock
from shared.jose import keys as signing_keys
from shared.repositories import config as config_repo
from shared.repositories import keys as keys_repo
from shared.runtime import open_runtime, start_watchers
from shared.settings import Settings
from tests.support.admin_cli import admin_json, ciba_admin
from tests.support.backing import Backing, fresh_backing
from tests.support.gateway_client import Client, add_user, decide, register

HOUR = 3600


@pytest.fixture(scope="module")
def own_backing(server_urls) -> Iterator[Backing]:
    with fresh_backing(server_urls, "keys") as backing:
        yield backing


def _settings(backing: Backing) -> Settings:
    return Settings(env="development", database_url=backing.database_url, amqp_url=backing.amqp_url,
                    bus_namespace=backing.namespace, migrate_on_start=False, log_format="console")


@pytest.fixture
async def gateways(own_backing: Backing) -> AsyncIterator[list[tuple[Gateway, TestClient]]]:
    """Two gateways on one database, each with its LISTEN connection and key watcher running,
    their clocks standing still together at the present."""
    clock = FrozenClock()
    opened = []
    async with AsyncExitStack() as stack:
        for _ in range(2):
            rt = await stack.enter_async_context(open_runtime(_settings(own_backing), "gateway", clock=clock))
            gw = await build_gateway(rt)
            stack.push_async_callback(gw.close)
            await start_watchers(rt)
            rt.start_side_task(gw.keyring.watch(rt.pool), "key-watcher")
            http = await stack.enter_async_context(TestClient(TestServer(create_app(gw))))
            opened.append((gw, http))
        async with opened[0][0].rt.pool.acquire() as conn:  # id_token_hints older than an hour
            await config_repo.upsert(conn, "idTokenLifetime", 86400)
        for gw, _ in opened:
            await gw.rt.live_config.load()
        yield opened
        await opened[0][0].rt.pool.execute("TRUNCATE signing_keys")  # the next test starts afresh


async def _tokens(gw: Gateway, http: TestClient, client: Client, username: str) -> dict:
    answer = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": username},
                             headers=client.basic)
    auth_req_id = (await answer.json())["auth_req_id"]
    await decide(gw, auth_req_id, approved=True)
    answer = await http.post("/token", data={"grant_type": "urn:openid:params:grant-type:ciba",
                                             "auth_req_id": auth_req_id}, headers=client.basic)
    assert answer.status == 200, await answer.text()
    return await answer.json()


def _kid(token: str) -> str:
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


async def _jwks(http: TestClient) -> dict:
    return await (await http.get("/jwks")).json()


def _verifies(token: str, jwks: dict) -> bool:
    try:
        jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["RS256", "PS256", "ES256"])
    except Exception:
        return False
    return True


async def _until(condition, timeout: float = 5.0) -> None:
    for _ in range(int(timeout * 50)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the gateways did not pick up the key change")


async def test_tokens_verify_against_jwks_at_every_moment_of_a_rotation(gateways) -> None:
    (gw, http), _ = gateways
    clock = gw.rt.clock
    client = await register(http)
    user = await add_user(gw)
    issued: list[str] = []

    async def flow() -> dict:
        tokens = await _tokens(gw, http, client, user.username)
        issued.extend([tokens["access_token"], tokens["id_token"]])
        jwks = await _jwks(http)
        assert all(_verifies(token, jwks) for token in issued), "a token issued earlier no longer verifies"
        return tokens

    first = _kid((await flow())["access_token"])
    async with gw.rt.pool.acquire() as conn:
        rotated = await signing_keys.rotate(conn, gw.rt.secrets, "RS256", now=clock.now(), prepublish_sec=HOUR)
    await _until(lambda: rotated.kid in {k["kid"] for k in gw.keyring.public_jwks["keys"]})
    assert _kid((await flow())["access_token"]) == first  # published, not yet signing

    clock.advance(HOUR + 1)
    assert _kid((await flow())["access_token"]) == rotated.kid  # active: the newest signs

    async with gw.rt.pool.acquire() as conn:
        await signing_keys.retire(conn, first, now=clock.now(), retire_after_sec=HOUR)
    await _until(lambda: any(k.kid == first and k.status == "retired" for k in gw.keyring.stored))
    assert first in {k["kid"] for k in (await _jwks(http))["keys"]}  # still verifies what it signed
    assert _kid((await flow())["access_token"]) == rotated.kid

    clock.advance(HOUR + 1)
    assert first not in {k["kid"] for k in (await _jwks(http))["keys"]}
    # Past its retirement a key's tokens no longer verify (`keys retire` waits out the longest
    # token lifetime by default; here an hour is given): the others still do.
    issued[:] = [token for token in issued if _kid(token) != first]
    await flow()


async def test_an_id_token_hint_signed_with_the_previous_key_holds_until_that_key_is_retired(gateways) -> None:
    (gw, http), _ = gateways
    clock = gw.rt.clock
    client = await register(http)
    user = await add_user(gw)
    hint = (await _tokens(gw, http, client, user.username))["id_token"]
    old = _kid(hint)

    async def start_with_hint() -> tuple[int, dict]:
        answer = await http.post("/bc-authorize", data={"scope": "openid", "id_token_hint": hint},
                                 headers=client.basic)
        return answer.status, await answer.json()

    async with gw.rt.pool.acquire() as conn:
        await signing_keys.rotate(conn, gw.rt.secrets, "RS256", now=clock.now(), prepublish_sec=HOUR)
    clock.advance(HOUR + 1)
    async with gw.rt.pool.acquire() as conn:
        await signing_keys.retire(conn, old, now=clock.now(), retire_after_sec=HOUR)
    await _until(lambda: any(k.status == "retired" for k in gw.keyring.stored))
    assert (await start_with_hint())[0] == 200

    clock.advance(HOUR + 1)
    status, body = await start_with_hint()
    assert (status, body["error"]) == (400, "invalid_request")


async def test_two_gateways_never_sign_with_a_key_the_other_does_not_publish(gateways, own_backing) -> None:
    (first, _), (second, _) = gateways
    clock = first.rt.clock
    settings = _settings(own_backing)

    def consistent() -> bool:
        for signer, publisher in ((first, second), (second, first)):
            published = {k["kid"] for k in publisher.keyring.public_jwks["keys"]}
            for alg in ("RS256", "ES256"):
                if signer.keyring.signing_key(alg).kid not in published:
                    return False
        return True

    # Through the operator's CLI, as in production: NOTIFY tells both gateways.
    rotated = admin_json(settings, "keys", "rotate", "--alg", "ES256")
    assert (rotated["alg"], rotated["state"]) == ("ES256", "published")
    await _until(lambda: all(rotated["kid"] in {k["kid"] for k in gw.keyring.public_jwks["keys"]}
                             for gw in (first, second)))
    assert consistent()
    # The CLI stamped the activation by the real clock, a moment after these clocks stopped:
    # move them just past it.
    activates_at = datetime.fromisoformat(rotated["activates_at"].replace("Z", "+00:00"))
    clock.advance((activates_at - clock.now()).total_seconds() + 1)
    assert consistent() and first.keyring.signing_key("ES256").kid == rotated["kid"]

    old = next(k.kid for k in await keys_repo.list_keys(first.rt.pool) if k.kty == "EC" and k.kid != rotated["kid"])
    # By the CLI's real clock the new key does not sign yet: the old one may not be retired.
    refused = ciba_admin(settings, "keys", "retire", old)
    assert refused.returncode == 1 and "the only EC key that signs" in refused.stderr
    async with first.rt.pool.acquire() as conn:
        await signing_keys.retire(conn, old, now=clock.now(), retire_after_sec=HOUR)
    await _until(lambda: all(any(k.kid == old and k.status == "retired" for k in gw.keyring.stored)
                             for gw in (first, second)))
    assert consistent()
    clock.advance(HOUR + 1)
    assert consistent()
    listed = {k["kid"]: k for k in admin_json(settings, "keys", "list")}
    assert listed[old]["state"] == "retiring"  # by the CLI's (real) clock, an hour before it leaves
