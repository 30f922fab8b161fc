"""Helpers for driving the in-process gateway: registration, users, requests, decisions."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiohttp.test_utils import TestClient

from services.gateway.context import Gateway
from shared.config.model import build_config
from shared.domain import lifecycle
from shared.passwords import hash_password
from shared.repositories import auth_requests, users
from shared.repositories import config as config_repo
from shared.repositories.users import User

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


async def register(http: TestClient, **metadata: Any) -> Client:
    body = {"backchannel_token_delivery_mode": "poll",
            "grant_types": [CIBA_GRANT, "refresh_token"], **metadata}
    response = await http.post("/register", json=body)
    assert response.status == 201, await response.text()
    data = await response.json()
    return Client(data["client_id"], data["client_secret"])


async def register_raw(http: TestClient, **metadata: Any) -> dict[str, Any]:
    """Register and return the whole registration response."""
    body = {"backchannel_token_delivery_mode": "poll", "grant_types": [CIBA_GRANT, "refresh_token"], **metadata}
    response = await http.post("/register", json=body)
    assert response.status == 201, await response.text()
    return await response.json()


async def add_user(gw: Gateway, **fields: Any) -> User:
    name = f"u-{uuid.uuid4().hex[:12]}"
    user = User(sub=str(uuid.uuid4()), username=name, email=f"{name}@example.org",
                phone_number=f"+1444{uuid.uuid4().int % 10**10:010d}",
                password_hash=hash_password("irrelevant-password"), **fields)
    async with gw.rt.pool.acquire() as conn:
        await users.insert(conn, user)
    return user


async def decide(gw: Gateway, auth_req_id: str, *, approved: bool) -> None:
    request = await auth_requests.get_by_hash(gw.rt.pool, gw.rt.secrets.hashes(auth_req_id))
    assert request is not None
    async with gw.rt.pool.acquire() as conn:
        decided = await lifecycle.decide(conn, request, approved=approved, now=gw.rt.clock.now(),
                                         auth_time=gw.rt.clock.now(), acr="pwd", service="test")
    assert decided is not None


@asynccontextmanager
async def server_property(gw: Gateway, key: str, value: Any) -> AsyncIterator[None]:
    """Set a server property for the block, then restore the default."""
    build_config({key: value}, gw.rt.settings.env)  # refuse bad test values early
    async with gw.rt.pool.acquire() as conn:
        await config_repo.upsert(conn, key, value)
    await gw.rt.live_config.load()
    try:
        yield
    finally:
        async with gw.rt.pool.acquire() as conn:
            await config_repo.delete(conn, key)
        await gw.rt.live_config.load()


async def issued_tokens(http: TestClient, gw: Gateway, client: Client, user: User | None = None) -> dict[str, Any]:
    """A whole poll flow for ``user`` (a new one by default), approved at once: the /token answer."""
    user = user or await add_user(gw)
    answer = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                             headers=client.basic)
    auth_req_id = (await answer.json())["auth_req_id"]
    await decide(gw, auth_req_id, approved=True)
    answer = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                             headers=client.basic)
    assert answer.status == 200, await answer.text()
    return await answer.json()
