"""Shared by the relying-party library's unit tests (test_client_library_*.py): the issuer and
client they use, a fake provider that serves a JWKS and a backchannel endpoint and signs its own
id_tokens, and a harness: a client of it whose ping and push handlers are mounted on a local
notification endpoint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import ciba_client
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from ciba_client import (
    AUTH_REQ_ID_CLAIM,
    CibaClient,
    ClientSecretBasic,
    ProviderMetadata,
    PushResult,
    half_hash,
    ping_handler,
    push_handler,
)
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ISSUER = "https://op.example"
CLIENT_ID = "kiosk-7"


@dataclass
class FakeProvider:
    """Serves a JWKS and a backchannel endpoint; signs id_tokens as a provider would."""

    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, auto_kid=True))
    notification_tokens: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/jwks", self._jwks)
        app.router.add_post("/bc-authorize", self._bc_authorize)
        return app

    async def _jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [{**self.key.as_dict(private=False), "use": "sig"}]})

    async def _bc_authorize(self, request: web.Request) -> web.Response:
        self.notification_tokens.append((await request.post())["client_notification_token"])
        return web.json_response({"auth_req_id": uuid.uuid4().hex, "expires_in": 60})

    def push(self, auth_req_id: str, *, key: RSAKey | ECKey | None = None, alg: str = "RS256",
             **claim_overrides: Any) -> dict[str, Any]:
        access_token, refresh_token = uuid.uuid4().hex, uuid.uuid4().hex
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "user-1", "iat": now, "exp": now + 300,
                  "at_hash": half_hash(access_token, alg), "rt_hash": half_hash(refresh_token, alg),
                  AUTH_REQ_ID_CLAIM: auth_req_id, **claim_overrides}
        signer = key or self.key
        id_token = jwt.encode({"alg": alg, "kid": self.key.kid}, {k: v for k, v in claims.items() if v is not None},
                              signer, algorithms=[alg])
        return {"access_token": access_token, "token_type": "Bearer", "expires_in": 3600, "scope": "openid",
                "id_token": id_token, "refresh_token": refresh_token, "auth_req_id": auth_req_id}


@dataclass
class Harness:
    provider: FakeProvider
    client: CibaClient
    endpoint: TestClient
    results: list[PushResult]
    pings: list[str]

    async def start(self) -> tuple[ciba_client.CibaRequest, str]:
        request = await self.client.start(login_hint="alice")
        return request, self.provider.notification_tokens[-1]

    async def notify(self, body: Any, bearer: str | None, path: str = "/push") -> int:
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        async with self.endpoint.post(path, data=data, headers={**headers, "Content-Type": "application/json"}) as r:
            return r.status


async def _harness(mode: str) -> AsyncIterator[Harness]:
    provider = FakeProvider()
    async with TestServer(provider.app()) as op:
        base = str(op.make_url("")).rstrip("/")
        metadata = ProviderMetadata(issuer=ISSUER, token_endpoint=f"{base}/token", jwks_uri=f"{base}/jwks",
                                    backchannel_authentication_endpoint=f"{base}/bc-authorize",
                                    backchannel_token_delivery_modes_supported=("poll", "ping", "push"))
        client = CibaClient(metadata, client_id=CLIENT_ID, auth=ClientSecretBasic("secret"), delivery_mode=mode)
        results: list[PushResult] = []
        pings: list[str] = []

        async def on_result(result: PushResult) -> None:
            results.append(result)

        async def on_ping(auth_req_id: str) -> None:
            pings.append(auth_req_id)

        rp = web.Application()
        rp.router.add_post("/push", push_handler(client, on_result))
        rp.router.add_post("/ping", ping_handler(client, on_ping))
        async with TestClient(TestServer(rp)) as endpoint:
            yield Harness(provider, client, endpoint, results, pings)
        await client.close()
