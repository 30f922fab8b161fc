"""GET /health/live and /health/ready for orchestrators. Ready means the database answers."""

from __future__ import annotations

import asyncio

from aiohttp import web

from services.gateway.context import gateway


async def live(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(gateway(request).rt.pool.fetchval("SELECT 1"), 2)
    except Exception:
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response({"status": "ok"})
