"""The fault proxy does what the chaos scenarios rely on: passes bytes untouched, delays them in
both directions, cuts open connections at once and refuses new ones until restored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.fault_proxy import FaultProxy

pytestmark = pytest.mark.chaos


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    server = await asyncio.start_server(_echo, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


@pytest.fixture
def proxy(echo_port: int) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", echo_port) as started:
        yield started


async def _round_trip(port: int, payload: bytes = b"ping") -> tuple[bytes, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5), time.monotonic() - started
    finally:
        writer.close()


async def test_passes_bytes_both_ways_unchanged(proxy: FaultProxy) -> None:
    payload = bytes(range(256)) * 1000
    echoed, _ = await _round_trip(proxy.port, payload)
    assert echoed == payload
    assert proxy.counters.accepted == 1


async def test_delay_adds_latency_in_each_direction_and_pass_through_removes_it(proxy: FaultProxy) -> None:
    proxy.delay(0.3)
    _, slow = await _round_trip(proxy.port)
    assert slow >= 0.6  # 0.3 s out, 0.3 s back
    proxy.pass_through()
    _, fast = await _round_trip(proxy.port)
    assert fast < 0.2


async def test_cut_closes_open_connections_at_once(proxy: FaultProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"hello")
    assert await reader.readexactly(5) == b"hello"
    started = time.monotonic()
    await asyncio.to_thread(proxy.cut)
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(1), 2)
    assert time.monotonic() - started < 1
    writer.close()
    assert proxy.counters.cut == 1


async def test_while_cut_new_connections_are_closed_and_restore_takes_them_again(proxy: FaultProxy) -> None:
    with proxy.cut_off():
        assert proxy.is_cut
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await _round_trip(proxy.port)
        assert proxy.counters.refused == 1
    assert not proxy.is_cut
    echoed, _ = await _round_trip(proxy.port)
    assert echoed == b"ping"


def test_cut_off_restores_when_the_block_raises(proxy: FaultProxy) -> None:
    with pytest.raises(RuntimeError), proxy.cut_off():
        raise RuntimeError("boom")
    assert not proxy.is_cut


def test_rewrite_points_a_url_at_the_proxy_and_keeps_the_rest(proxy: FaultProxy) -> None:
    assert proxy.rewrite("postgresql://postgres:pw@db.example:5432/ciba?sslmode=disable") == (
        f"postgresql://postgres:pw@127.0.0.1:{proxy.port}/ciba?sslmode=disable")
    assert proxy.rewrite("amqp://guest:guest@127.0.0.1:5672/") == f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
