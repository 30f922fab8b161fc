"""GET /health/live and /health/ready on the public port, for load balancers. The same
answers come from the management listener (shared.management), which orchestrators probe."""

from __future__ import annotations

from aiohttp import web

from services.gateway.context import gateway
from shared.management import live, ready_response

__all__ = ["live", "ready"]


async def ready(request: web.Request) -> web.Response:
    return await ready_response(gateway(request).rt.readiness)
