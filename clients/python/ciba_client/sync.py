"""A synchronous face on CibaClient, for scripts and frameworks without an event loop.

The async client runs on a private event loop in a daemon thread (its aiohttp session is
bound to that loop, so one ``asyncio.run`` per call would not do); each method submits a
coroutine there and blocks until it is done. Do not call it from inside a running event
loop's thread: use CibaClient there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from ciba_client.auth import ClientAuth
from ciba_client.client import CibaClient, CibaRequest
from ciba_client.tokens import TokenResponse

T = TypeVar("T")


class _LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="ciba-client", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncCibaClient:
    """Blocking ``start``, ``wait``, ``refresh`` and ``userinfo``; ``close`` (or ``with``) ends
    the loop thread. ``.client`` is the async client, for anything else."""

    def __init__(self, client: CibaClient, loop: _LoopThread) -> None:
        self.client = client
        self._loop = loop

    @classmethod
    def discover(cls, issuer: str, *, client_id: str, auth: ClientAuth, **options: Any) -> SyncCibaClient:
        loop = _LoopThread()
        try:
            client = loop.run(CibaClient.discover(issuer, client_id=client_id, auth=auth, **options))
        except BaseException:
            loop.stop()
            raise
        return cls(client, loop)

    def start(self, **params: Any) -> CibaRequest:
        return self._loop.run(self.client.start(**params))

    def wait(self, request: CibaRequest, *, timeout: float | None = None) -> TokenResponse:
        return self._loop.run(self.client.wait(request, timeout=timeout))

    def refresh(self, refresh_token: str, **params: Any) -> TokenResponse:
        return self._loop.run(self.client.refresh(refresh_token, **params))

    def userinfo(self, access_token: str, **params: Any) -> dict[str, Any]:
        return self._loop.run(self.client.userinfo(access_token, **params))

    def revoke(self, token: str, **params: Any) -> None:
        self._loop.run(self.client.revoke(token, **params))

    def close(self) -> None:
        try:
            self._loop.run(self.client.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> SyncCibaClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
