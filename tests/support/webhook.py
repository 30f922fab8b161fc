"""A local webhook receiver standing in for the operator's notification service."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.local_server import serve


@dataclass
class Received:
    payload: dict[str, Any]
    body: bytes
    headers: dict[str, str]


@dataclass
class WebhookReceiver:
    port: int = 0
    received: dict[str, asyncio.Queue[Received]] = field(default_factory=lambda: defaultdict(asyncio.Queue))
    delays: dict[str, float] = field(default_factory=dict)
    answers: dict[str, list[int]] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        payload = json.loads(body)
        username = payload["user"]["username"]
        self.started[username].set()
        if username in self.delays:
            await asyncio.sleep(self.delays[username])
        statuses = self.answers.get(username)
        status = statuses.pop(0) if statuses else 204
        if status < 300:
            self.received[username].put_nowait(Received(payload, body, dict(request.headers)))
        return web.Response(status=status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/notify", self._handle)
        self._runner, self.port = await serve(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def next_for(self, username: str, timeout: float = 15.0) -> Received:
        return await asyncio.wait_for(self.received[username].get(), timeout)
