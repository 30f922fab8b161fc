"""A relying party: registers, starts requests, polls /token, verifies tokens."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from joserfc import jwt
from joserfc.jwk import KeySet

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    client_secret: str
    metadata: dict[str, Any]

    @property
    def auth_header(self) -> dict[str, str]:
        raw = f"{quote(self.client_id, safe='')}:{quote(self.client_secret, safe='')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


class RelyingParty:
    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.http = aiohttp.ClientSession()

    async def close(self) -> None:
        await self.http.close()

    async def _answer(self, response: aiohttp.ClientResponse) -> Answer:
        try:
            body = await response.json(content_type=None)
        except ValueError:
            body = {"_text": await response.text()}
        return Answer(response.status, body, dict(response.headers))

    async def discovery(self) -> dict[str, Any]:
        async with self.http.get(f"{self.issuer}/.well-known/openid-configuration") as response:
            assert response.status == 200
            return await response.json()

    async def register(self, **metadata: Any) -> RegisteredClient:
        body = {"client_name": "Test RP", "backchannel_token_delivery_mode": "poll",
                "grant_types": [CIBA_GRANT, "refresh_token"], **metadata}
        async with self.http.post(f"{self.issuer}/register", json=body) as response:
            answer = await self._answer(response)
        assert answer.status == 201, answer
        return RegisteredClient(answer.body["client_id"], answer.body["client_secret"], answer.body)

    async def bc_authorize(self, client: RegisteredClient, **params: str) -> Answer:
        params.setdefault("scope", "openid")
        async with self.http.post(f"{self.issuer}/bc-authorize", data=params,
                                  headers=client.auth_header) as response:
            return await self._answer(response)

    async def token(self, client: RegisteredClient, auth_req_id: str, **extra: str) -> Answer:
        data = {"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id, **extra}
        async with self.http.post(f"{self.issuer}/token", data=data, headers=client.auth_header) as response:
            return await self._answer(response)

    async def refresh(self, client: RegisteredClient, refresh_token: str) -> Answer:
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        async with self.http.post(f"{self.issuer}/token", data=data, headers=client.auth_header) as response:
            return await self._answer(response)

    async def userinfo(self, access_token: str) -> Answer:
        headers = {"Authorization": f"Bearer {access_token}"}
        async with self.http.get(f"{self.issuer}/userinfo", headers=headers) as response:
            return await self._answer(response)

    async def verify_id_token(self, id_token: str, algorithms: list[str] | None = None) -> dict[str, Any]:
        """Check the signature against the server's published /jwks."""
        discovery = await self.discovery()
        async with self.http.get(discovery["jwks_uri"]) as response:
            jwks = await response.json()
        decoded = jwt.decode(id_token, KeySet.import_key_set(jwks),
                             algorithms=algorithms or ["RS256", "PS256", "ES256"])
        return decoded.claims
