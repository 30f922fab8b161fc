"""Long polling at /token (CIBA Core 7.3 allows the token endpoint to hold a poll open).

A client opts in with ``Prefer: wait=N`` (RFC 7240). A poll on a pending request is held up
to min(N, cibaLongPollingMaxWaitSec, the request's remaining life) and answered as soon as
the request changes: the transition's NOTIFY (``ciba_request_changed``, sent only when its
transaction commits) wakes the waiting poll through the gateway's one LISTEN connection.
No sleep loop, no per-poll database connection while waiting.

Each held poll keeps its connection, so one file descriptor, open. A process holds at most
CIBA_LONG_POLL_MAX_HELD polls at once; beyond that a poll is answered at once as an
ordinary poll (the client polls again after its interval), so a burst of long polls cannot
exhaust the process's descriptors (RLIMIT_NOFILE) and refuse every other connection.
"""

from __future__ import annotations

import asyncio
import re
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from shared.db.listener import PgListener
from shared.repositories.auth_requests import REQUEST_CHANGED_CHANNEL

# Descriptors a gateway needs besides held polls: pools, listener, outbound calls, other clients.
DESCRIPTOR_HEADROOM = 256
_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d{1,6})\"?(?:$|[,;\s])", re.IGNORECASE)


def requested_wait(prefer_headers: list[str]) -> int | None:
    """The ``wait`` preference of RFC 7240, in seconds, if the client sent one."""
    for header in prefer_headers:
        match = _WAIT.search(header)
        if match:
            return int(match[1])
    return None


@dataclass
class Applied:
    """Whether this poll was held, and for at most how long: the answer then says
    ``Preference-Applied: wait=N`` (RFC 7240 3), so a client knows long polling works here."""

    wait: int | None = None

    def header(self) -> dict[str, str]:
        return {"Preference-Applied": f"wait={self.wait}"} if self.wait is not None else {}


def descriptors_short_by(max_held: int) -> int:
    """How many descriptors the soft RLIMIT_NOFILE lacks to hold ``max_held`` polls and still
    serve everything else (0: enough). Raise it with ``ulimit -n`` or the container's nofile."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 0
    return max(0, max_held + DESCRIPTOR_HEADROOM - soft)


class RequestWaiters:
    def __init__(self, *, max_held: int) -> None:
        self._max_held = max_held
        self._waiting: dict[str, set[asyncio.Future[None]]] = {}
        self._count = 0
        self._closing = False

    def attach(self, listener: PgListener) -> None:
        listener.subscribe(REQUEST_CHANGED_CHANNEL, self._wake)
        # Notifications sent while the connection was down are lost: wake everyone to re-read.
        listener.on_reconnect(self._wake_all)

    @property
    def full(self) -> bool:
        return self._count >= self._max_held or self._closing

    def release_all(self) -> None:
        """Shutting down: answer every held poll now, and hold no new ones."""
        self._closing = True
        self._wake_all()

    def _wake(self, request_id: str) -> None:
        for future in self._waiting.pop(request_id, ()):
            if not future.done():
                future.set_result(None)

    def _wake_all(self) -> None:
        for request_id in list(self._waiting):
            self._wake(request_id)

    @contextmanager
    def subscription(self, request_id: str) -> Iterator[asyncio.Future[None]]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(request_id, set()).add(future)
        self._count += 1
        try:
            yield future
        finally:
            self._count -= 1
            waiters = self._waiting.get(request_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    del self._waiting[request_id]
