"""The relying party's client notification endpoint: an HTTPS server on 127.0.0.1 that records
every call and answers as each test scripts it (per path: a list of statuses, or "hang")."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_server import serve
from tests.support.tls import TestPKI


@dataclass
class Call:
    key: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int | None = None  # None while it hangs


@dataclass
class CallbackServer:
    pki: TestPKI
    port: int = 0
    calls: dict[str, list[Call]] = field(default_factory=lambda: defaultdict(list))
    scripts: dict[str, list[int | float]] = field(default_factory=dict)
    arrived: dict[str, asyncio.Condition] = field(default_factory=lambda: defaultdict(asyncio.Condition))
    _runner: web.AppRunner | None = None

    def endpoint(self, statuses: list[int | float] | None = None) -> tuple[str, str]:
        """A fresh endpoint URL and its key. ``statuses``: answers in order (an int is a status,
        a float is seconds to hang before answering 204); then 204 for ever."""
        key = uuid.uuid4().hex
        self.scripts[key] = list(statuses or [])
        return f"https://127.0.0.1:{self.port}/cb/{key}", key

    async def _handle(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        call = Call(key, dict(request.headers), json.loads(await request.read()))
        async with self.arrived[key]:
            self.calls[key].append(call)
            self.arrived[key].notify_all()
        script = self.scripts.get(key) or []
        answer = script.pop(0) if script else 204
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 204
        call.status = answer
        return web.Response(status=answer)

    async def wait_calls(self, key: str, count: int, timeout: float = 30.0) -> list[Call]:
        async with self.arrived[key]:
            await asyncio.wait_for(self.arrived[key].wait_for(lambda: len(self.calls[key]) >= count), timeout)
        return self.calls[key]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/cb/{key}", self._handle)
        self._runner, self.port = await serve(app, ssl_context=self.pki.server_context(), shutdown_timeout=0.5)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
