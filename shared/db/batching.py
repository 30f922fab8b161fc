"""Running many small statements as one: calls made in the same turn of the event loop are
collected and handed to one function that does them all in a single statement.

Under load a consumer works on many messages at once (its prefetch), and each used to send its
own statement to Postgres. On a loopback connection every statement costs a socket write that
runs Postgres's receive path and wakes a backend; per statement, not per row. One statement
for the batch pays that once. Each caller still gets its own answer, and when the statement
fails every caller of the batch gets the error (as each would have alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, run_many: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 max_size: int = 200) -> None:
        """``run_many`` gets the items of one batch and returns one result per item, in order;
        a result that is an exception is raised to that item's caller alone."""
        self._run_many = run_many
        self._max_size = max_size
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._flush_scheduled = False
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_size:
            self._flush()
        elif not self._flush_scheduled:
            # After the callbacks already queued in this turn: the other messages that arrived
            # with this one get to submit theirs first.
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run_many([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every caller of the batch hears of it
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
