"""Starting the tests' local HTTP(S) servers (webhook receiver, callback endpoint, fakes) on a
free port of 127.0.0.1, and reading JWTs the way a provider's server does."""

from __future__ import annotations

import base64
import json
import ssl
from typing import Any

from aiohttp import web


async def serve(app: web.Application, *, ssl_context: ssl.SSLContext | None = None,
                shutdown_timeout: float = 60.0) -> tuple[web.AppRunner, int]:
    """Run ``app`` on 127.0.0.1; returns the runner (to clean up) and the port it got."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def unverified_jws(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a compact JWS, read before its signature is checked (to find
    the key that verifies it); None when it is not one."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
                          for part in parts[:2])
    except (ValueError, TypeError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return None
    return header, claims
