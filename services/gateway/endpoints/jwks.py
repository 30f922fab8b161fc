"""GET /jwks: the public signing keys (RFC 7517), each with its kid."""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import gateway

PATH = "/jwks"


async def handle(request: web.Request) -> web.Response:
    return web.json_response(gateway(request).keyring.public_jwks,
                             headers={"Cache-Control": "public, max-age=300"})
