"""The management listener every service runs beside its work (CIBA_MANAGEMENT_HOST and
CIBA_MANAGEMENT_PORT; 0 turns it off):

- ``GET /health/live``: 200 while the event loop runs;
- ``GET /health/ready``: 200 when every readiness check passes, otherwise 503 with a JSON
  body naming each check and, for a failing one, why;
- ``GET /metrics``: the Prometheus text format (``shared.metrics``).

The gateway adds its config API (``/admin/config``) here, off the public port.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.logging import get_logger

log = get_logger("ciba.management")

# A readiness check returns None when healthy, else a short reason.
Check = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_SEC = 2.0


class Readiness:
    """Named readiness checks, run together on every /health/ready."""

    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}

    def add(self, name: str, check: Check) -> None:
        self._checks[name] = check

    async def report(self) -> dict[str, str]:
        """Each check's name, with "ok" or the reason it fails."""
        names = list(self._checks)
        outcomes = await asyncio.gather(*(self._run(self._checks[name]) for name in names))
        return dict(zip(names, outcomes, strict=True))

    @staticmethod
    async def _run(check: Check) -> str:
        try:
            reason = await asyncio.wait_for(check(), CHECK_TIMEOUT_SEC)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_SEC:g} s"
        except Exception as exc:  # a check that raises is a failing check
            return f"{type(exc).__name__}: {exc}"[:200]
        return "ok" if reason is None else reason


async def live(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


READINESS = web.AppKey("readiness", Readiness)


async def ready_response(readiness: Readiness) -> web.Response:
    checks = await readiness.report()
    healthy = all(outcome == "ok" for outcome in checks.values())
    return web.json_response({"status": "ok" if healthy else "unavailable", "checks": checks},
                             status=200 if healthy else 503)


async def _ready(request: web.Request) -> web.Response:
    return await ready_response(request.app[READINESS])


async def _metrics(_request: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    response.charset = "utf-8"
    return response


def create_management_app(readiness: Readiness) -> web.Application:
    app = web.Application()
    app[READINESS] = readiness
    app.router.add_get("/health/live", live)
    app.router.add_get("/health/ready", _ready)
    app.router.add_get("/metrics", _metrics)
    return app


async def start_management(app: web.Application, host: str, port: int, *,
                           reuse_port: bool = False) -> web.AppRunner | None:
    """Serve ``app`` on host:port; None when port is 0. Raises RuntimeError when it cannot listen."""
    if port == 0:
        return None
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port, reuse_port=reuse_port).start()
    except OSError as exc:
        await runner.cleanup()
        raise RuntimeError(f"cannot listen on the management port {host}:{port}: {exc.strerror or exc}") from None
    log.info("management_listening", listen=f"{host}:{port}")
    return runner
