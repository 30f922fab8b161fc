"""A TCP fault proxy for the chaos tests: sits between the services and Postgres or RabbitMQ and
passes, delays or cuts their connections on command.

It runs its own event loop in a background thread, so a test whose own loop is busy (a few
hundred flows at once) never slows the traffic it forwards, and a cut happens the moment the
test asks for it. Every control method is thread-safe and returns only once it has taken
effect: after ``cut()`` returns, every connection is closed.

    proxy = FaultProxy("127.0.0.1", 5432).start()
    dsn = proxy.rewrite("postgresql://postgres@127.0.0.1:5432/ciba")  # points at the proxy
    with proxy.cut_off():      # a Postgres outage for as long as the block runs
        ...
    proxy.stop()

Standalone, for trying a fault by hand (commands on stdin: pass, delay SECONDS, cut, restore):

    python -m tests.support.fault_proxy --listen 127.0.0.1:6432 --target 127.0.0.1:5432
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

CHUNK = 64 * 1024


@dataclass
class ProxyCounters:
    accepted: int = 0  # connections accepted and forwarded
    refused: int = 0  # connections accepted while cut, and closed at once
    cut: int = 0  # open connections closed by cut()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target_host``:``target_port``; see the module docstring."""

    def __init__(self, target_host: str, target_port: int, *, listen_host: str = "127.0.0.1",
                 listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.counters = ProxyCounters()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._delay = 0.0
        self._cut = False
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._call(self._stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- control (thread-safe; each returns once in effect) ----------------------------

    def pass_through(self) -> None:
        """Forward normally: no delay, not cut."""
        self._call(self._set(delay=0.0, cut=False))

    def delay(self, seconds: float) -> None:
        """Hold every forwarded chunk ``seconds`` before writing it, in both directions."""
        self._call(self._set(delay=seconds))

    def cut(self) -> None:
        """Close every open connection at once (RST), and close new ones on accept."""
        self._call(self._set(cut=True))

    def restore(self) -> None:
        """Take new connections again (any delay stays as it was)."""
        self._call(self._set(cut=False))

    @property
    def is_cut(self) -> bool:
        return self._cut

    @contextmanager
    def cut_off(self) -> Iterator[None]:
        """Cut for as long as the ``with`` block runs; restored even if the block raises."""
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def cut_for(self, seconds: float) -> None:
        """Cut, sleep ``seconds`` (blocking the caller's thread), restore."""
        with self.cut_off():
            time.sleep(seconds)

    # -- addresses ---------------------------------------------------------------------

    @property
    def address(self) -> str:
        return f"{self.listen[0]}:{self.port}"

    def rewrite(self, url: str) -> str:
        """``url`` (postgresql://, amqp://, ...) with its host and port replaced by the proxy's,
        keeping user, password, path and query."""
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{self.address}" if userinfo else self.address
        return urlunsplit(parts._replace(netloc=netloc))

    # -- the proxy's own loop ----------------------------------------------------------

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, *self.listen)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self._abort_all()
        others = asyncio.all_tasks() - {asyncio.current_task()}
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    async def _set(self, *, delay: float | None = None, cut: bool | None = None) -> None:
        if delay is not None:
            self._delay = delay
        if cut is not None:
            self._cut = cut
            if cut:
                self.counters.cut += len(self._open)
                self._abort_all()

    def _abort_all(self) -> None:
        for pair in list(self._open):
            _abort(pair)
        self._open.clear()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut:
            self.counters.refused += 1
            client_writer.transport.abort()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection(*self.target)
        except OSError:
            client_writer.transport.abort()
            return
        pair = (client_writer, server_writer)
        if self._cut:  # cut while we were connecting
            self.counters.refused += 1
            _abort(pair)
            return
        self.counters.accepted += 1
        self._open.add(pair)
        try:
            await asyncio.gather(self._pump(client_reader, server_writer, pair),
                                 self._pump(server_reader, client_writer, pair))
        finally:
            self._open.discard(pair)
            _abort(pair)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        """Copy one direction until EOF (passed on as a half-close, as TCP would) or an error
        (which ends both directions: one side is gone)."""
        try:
            while data := await reader.read(CHUNK):
                if self._delay:
                    await asyncio.sleep(self._delay)
                if writer.transport.is_closing():
                    return
                writer.write(data)
                await writer.drain()
            if not writer.transport.is_closing() and writer.can_write_eof():
                writer.write_eof()
        except (OSError, ConnectionError):
            _abort(pair)


def _abort(writers: tuple[asyncio.StreamWriter, ...]) -> None:
    """Close at once with a reset, as a dropped link or a killed server looks to the peer."""
    for writer in writers:
        writer.transport.abort()


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on")
    parser.add_argument("--target", required=True, help="HOST:PORT to forward to")
    args = parser.parse_args(argv)
    listen_host, listen_port = _host_port(args.listen)
    proxy = FaultProxy(*_host_port(args.target), listen_host=listen_host, listen_port=listen_port).start()
    print(f"listening on {proxy.address}; commands: pass | delay SECONDS | cut | restore | quit", flush=True)
    commands = {"pass": proxy.pass_through, "cut": proxy.cut, "restore": proxy.restore}
    try:
        for line in sys.stdin:
            word, *rest = line.split() or [""]
            if word == "quit":
                break
            if word == "delay" and rest:
                proxy.delay(float(rest[0]))
            elif word in commands:
                commands[word]()
            elif word:
                print(f"unknown command {word!r}", flush=True)
                continue
            print(f"ok {proxy.counters}", flush=True)
    finally:
        proxy.stop()


if __name__ == "__main__":
    main()
