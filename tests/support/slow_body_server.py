"""An HTTP/1.1 server on 127.0.0.1 that writes each answer's body in two parts, 200 ms apart.

A server far away answers in several TCP segments; aiohttp's own web server, on loopback,
writes a small answer in one. This raw asyncio server reproduces the far-away case: the
status line, the headers and the first half of the body, a pause, then the rest. A client
that takes "what is already buffered" for the whole body sees half of it (security audit,
issue 8, finding 3).

Answers are scripted per path; the body is framed by Content-Length or, with
``chunked=True``, by chunked transfer coding (one chunk per part). Connections are kept
alive, and counted: a client that reads each answer to its end reuses one connection::

    async with SlowBodyServer() as server:
        server.answers["/jwks.json"] = json_answer({"keys": [...]})
        ...server.url("/jwks.json")...
        assert server.connections == 1

Requests must carry their body with Content-Length (aiohttp's client does for bytes and
forms); every request is recorded in ``requests``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

DEFAULT_PAUSE_SEC = 0.2


@dataclass(frozen=True)
class SlowAnswer:
    body: bytes
    status: int = 200
    chunked: bool = False
    """Transfer-Encoding: chunked instead of Content-Length."""
    split: bool = True
    """Write the body in two parts with a pause between them (else in one go with the head)."""
    content_type: str = "application/json"


NOT_FOUND = SlowAnswer(b'{"error":"not_found"}', status=404, split=False)


def json_answer(document: Any, *, status: int = 200, chunked: bool = False, split: bool = True) -> SlowAnswer:
    return SlowAnswer(json.dumps(document).encode(), status=status, chunked=chunked, split=split)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class SlowBodyServer:
    answers: dict[str, SlowAnswer] = field(default_factory=dict)
    """Per path (without the query); NOT_FOUND for any other."""
    pause: float = DEFAULT_PAUSE_SEC
    port: int = 0
    requests: list[ReceivedRequest] = field(default_factory=list)
    connections: int = 0
    """TCP connections accepted so far."""
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        # A handler may still be in its pause (the client left mid-answer): let it end.
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            while (request := await read_request(reader)) is not None:
                self.requests.append(request)
                await write_answer(writer, self.answers.get(request.path, NOT_FOUND), self.pause)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away mid-answer
        finally:
            self._writers.discard(writer)
            self._handlers.discard(handler)  # type: ignore[arg-type]
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> ReceivedRequest | None:
    """The next request on the connection; None when the client closed it."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return ReceivedRequest(method, target.split("?", 1)[0], headers, body)


async def write_answer(writer: asyncio.StreamWriter, answer: SlowAnswer, pause: float) -> None:
    """Head and first half of the body, ``pause`` seconds, the rest."""
    framing = "Transfer-Encoding: chunked" if answer.chunked else f"Content-Length: {len(answer.body)}"
    head = (f"HTTP/1.1 {answer.status} {HTTPStatus(answer.status).phrase}\r\n"
            f"Content-Type: {answer.content_type}\r\n{framing}\r\n\r\n").encode()
    middle = len(answer.body) // 2 if answer.split else len(answer.body)
    first, rest = answer.body[:middle], answer.body[middle:]
    writer.write(head + _frame(first, answer.chunked))
    await writer.drain()
    if rest:
        await asyncio.sleep(pause)
        writer.write(_frame(rest, answer.chunked))
    if answer.chunked:
        writer.write(b"0\r\n\r\n")
    await writer.drain()


def _frame(part: bytes, chunked: bool) -> bytes:
    if not chunked or not part:
        return part
    return f"{len(part):x}\r\n".encode() + part + b"\r\n"
