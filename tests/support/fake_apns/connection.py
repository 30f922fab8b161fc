"""One client's connection to the fake APNs: TLS (done by asyncio), then HTTP/2 frames through h2.
It keeps the connection's team and provider token as APNs tracks them, and has the ``FakeApns``
judge each request once its stream ends, answering after the fake's ``send_delay``."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.exceptions import H2Error

from tests.support.fake_apns.records import TOKEN_LIFETIME_SEC, TOKEN_MIN_UPDATE_INTERVAL_SEC, ConnectionInfo, _Stream

if TYPE_CHECKING:
    from tests.support.fake_apns.server import FakeApns


class _H2Protocol(asyncio.Protocol):
    """One client connection: TLS (done by asyncio), then HTTP/2 frames through h2."""

    def __init__(self, fake: FakeApns) -> None:
        self.fake = fake
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.streams: dict[int, _Stream] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.transport: asyncio.Transport | None = None
        self.info = ConnectionInfo(0, None, None)
        self.team_id: str | None = None
        self.provider_token: str | None = None
        self.provider_iat = 0

    # The connection's provider token, as APNs tracks it.
    def accept_provider_token(self, token: str, team_id: str, iat: int) -> None:
        if self.team_id is not None and team_id != self.team_id:
            raise self.fake._refuse_token(403, "InvalidProviderToken")
        if token != self.provider_token:
            if (self.provider_token is not None and self.fake.clock() - self.provider_iat <= TOKEN_LIFETIME_SEC
                    and iat - self.provider_iat < TOKEN_MIN_UPDATE_INTERVAL_SEC):
                raise self.fake._refuse_token(429, "TooManyProviderTokenUpdates")
            self.provider_token, self.provider_iat = token, iat
            if token not in self.fake.provider_tokens:
                self.fake.provider_tokens.append(token)
        self.team_id = team_id

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        ssl_object = transport.get_extra_info("ssl_object")
        self.info = ConnectionInfo(len(self.fake.connections) + 1,
                                   ssl_object.selected_alpn_protocol() if ssl_object else None,
                                   ssl_object.version() if ssl_object else None)
        self.fake.connections.append(self.info)
        self.fake._protocols.add(self)
        self.conn.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fake._protocols.discard(self)
        for task in self.tasks:
            task.cancel()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.conn.close_connection()
            self._flush()
            self.transport.close()

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        try:
            events = self.conn.receive_data(data)
        except H2Error as exc:  # not HTTP/2: the client did not speak the protocol
            self.info.protocol_errors.append(type(exc).__name__)
            self._flush()
            if self.transport is not None:
                self.transport.close()
            return
        for event in events:
            if isinstance(event, RequestReceived):
                self.streams[event.stream_id] = _Stream(list(event.headers))  # type: ignore[arg-type]
            elif isinstance(event, DataReceived):
                stream = self.streams.get(event.stream_id)
                if stream is not None:
                    stream.body += event.data
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, StreamEnded):
                stream = self.streams.pop(event.stream_id, None)
                if stream is not None:
                    task = asyncio.create_task(self._answer(event.stream_id, stream))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
            elif isinstance(event, StreamReset):
                self.streams.pop(event.stream_id, None)
            elif isinstance(event, ConnectionTerminated):
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    async def _answer(self, stream_id: int, stream: _Stream) -> None:
        if self.fake.send_delay:
            await asyncio.sleep(self.fake.send_delay)
        status, reason, apns_id = self.fake.handle(self, stream_id, stream)
        headers = [(":status", str(status)), ("apns-id", apns_id)]
        body = b""
        if status != 200:
            answer: dict[str, Any] = {"reason": reason}
            if status == 410:
                answer["timestamp"] = int(self.fake.clock() * 1000)
            body = json.dumps(answer).encode()
            headers += [("content-type", "application/json; charset=utf-8"), ("content-length", str(len(body)))]
        try:
            self.conn.send_headers(stream_id, headers, end_stream=not body)
            if body:
                self.conn.send_data(stream_id, body, end_stream=True)
        except H2Error:  # the client gave up on the stream meanwhile
            return
        self._flush()
