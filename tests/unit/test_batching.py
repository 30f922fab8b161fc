"""shared.db.batching: calls made in one turn of the event loop go out as one batch, each
caller gets its own answer, and a failed batch fails every caller in it."""

from __future__ import annotations

import asyncio

import pytest

from shared.db.batching import Batcher


async def test_calls_of_one_turn_are_one_batch_and_each_gets_its_answer() -> None:
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        return [2 * item for item in items]

    batcher: Batcher[int, int] = Batcher(double)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(5))) == [0, 2, 4, 6, 8]
    assert batches == [[0, 1, 2, 3, 4]]
    assert await batcher.submit(7) == 14  # a later turn: a batch of its own
    assert batches[-1] == [7]


async def test_a_batch_is_cut_at_max_size() -> None:
    sizes: list[int] = []

    async def echo(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batcher: Batcher[int, int] = Batcher(echo, max_size=3)
    assert await asyncio.gather(*(batcher.submit(n) for n in range(7))) == list(range(7))
    assert sizes == [3, 3, 1]


async def test_a_failed_batch_fails_every_caller_in_it() -> None:
    async def broken(items: list[int]) -> list[int]:
        raise ConnectionResetError("the database went away")

    batcher: Batcher[int, int] = Batcher(broken)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionResetError) for r in results)
    with pytest.raises(ConnectionResetError):
        await batcher.submit(1)
