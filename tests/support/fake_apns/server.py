"""A local stand-in for Apple's APNs provider API: a real HTTP/2 server over TLS (ALPN ``h2``
only) on 127.0.0.1, with a certificate from ``tests.support.tls.make_pki``.

``POST /3/device/{device_token}`` checks what Apple checks before it accepts a notification:

- the provider token (``authorization: bearer <JWT>``): header ``alg`` ES256 and a ``kid`` the
  fake knows, ``iss`` the team that key belongs to, a valid ES256 signature with that key's public
  half, an integer ``iat`` not in the future and not older than an hour (else 403
  ``ExpiredProviderToken``; anything else wrong is 403 ``InvalidProviderToken``, none at all
  403 ``MissingProviderToken``);
- per connection: one team only (403 ``InvalidProviderToken``), and a new token no sooner than
  20 minutes after the one it replaces unless that one has expired (429
  ``TooManyProviderTokenUpdates``);
- ``apns-topic`` (400 ``MissingTopic`` / ``TopicDisallowed``), ``apns-push-type``,
  ``apns-priority``, ``apns-expiration``, ``apns-collapse-id`` (at most 64 bytes), duplicate
  headers, an empty or oversized (4 KB) payload;

then answers as scripted per device token, else 200 with an ``apns-id``::

    fake.answers["tok-dead"] = 410                        # reason Unregistered
    fake.answers["tok-bogus"] = (400, "BadDeviceToken")
    fake.answers["tok-flaky"] = [503, 200]                # in turn, then 200

Errors are JSON ``{"reason": ...}`` (410 adds ``timestamp``), as Apple sends them. Every
request is recorded in ``attempts``; accepted ones in ``notifications`` with the connection,
the negotiated ALPN protocol and the HTTP version they came over.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import ssl
import string
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.exceptions import H2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from tests.support.local_server import unverified_jws
from tests.support.tls import TestPKI

TOKEN_LIFETIME_SEC = 3600
TOKEN_MIN_UPDATE_INTERVAL_SEC = 20 * 60
MAX_PAYLOAD_BYTES = 4096
PUSH_TYPES = {"alert", "background", "location", "voip", "complication", "fileprovider", "mdm",
              "liveactivity", "pushtotalk", "widgets", "controls"}
DEFAULT_REASONS = {400: "BadDeviceToken", 403: "Forbidden", 404: "BadPath", 405: "MethodNotAllowed",
                   410: "Unregistered", 413: "PayloadTooLarge", 429: "TooManyRequests",
                   500: "InternalServerError", 503: "ServiceUnavailable"}
DEFAULT_TOPIC = "com.example.ciba.authenticator"

Answer = int | tuple[int, str]
_DEVICE_PATH = re.compile(r"/3/device/([^/?#]*)")


def _apple_id() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(10))


@dataclass(frozen=True)
class ApnsKey:
    """A token signing key as Apple's developer account hands it out: the .p8 PEM, its key ID,
    and the team it belongs to."""

    team_id: str
    key_id: str
    private_key: str = field(repr=False)
    public_key: ec.EllipticCurvePublicKey = field(repr=False)


def generate_apns_key(team_id: str | None = None, key_id: str | None = None) -> ApnsKey:
    """A fresh P-256 key with 10-character team and key IDs (not known to any fake)."""
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return ApnsKey(team_id or _apple_id(), key_id or _apple_id(), pem, private.public_key())


@dataclass
class ConnectionInfo:
    number: int
    alpn: str | None
    tls_version: str | None
    protocol_errors: list[str] = field(default_factory=list)


@dataclass
class ReceivedNotification:
    connection: int
    alpn: str | None
    http_version: str
    stream_id: int
    device_token: str
    headers: dict[str, str]
    payload: dict[str, Any]
    provider_token: str
    apns_id: str


@dataclass
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class FakeApns:
    def __init__(self, pki: TestPKI, *, topics: tuple[str, ...] = (DEFAULT_TOPIC,),
                 clock: Callable[[], float] = time.time) -> None:
        self.pki = pki
        self.topics = topics
        self.clock = clock
        """Apple's idea of the time, against which ``iat`` is judged."""
        self.keys: dict[str, tuple[str, ec.EllipticCurvePublicKey]] = {}
        """key_id -> (team_id, public key)."""
        self.answers: dict[str, Answer | list[Answer]] = {}
        """Scripted answers per device token: one (every time) or a list (in turn, then 200)."""
        self.send_delay = 0.0
        self.port = 0
        self.connections: list[ConnectionInfo] = []
        self.notifications: list[ReceivedNotification] = []
        self.attempts: list[tuple[str, int, str | None]] = []
        """Every request to /3/device/ as (device token, status, reason)."""
        self.provider_tokens: list[str] = []
        """Every distinct provider token accepted, in order."""
        self.token_refusals: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._protocols: set[_H2Protocol] = set()

    # -- set-up ----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def provider_key(self, team_id: str | None = None) -> ApnsKey:
        """A fresh signing key this fake trusts."""
        key = generate_apns_key(team_id)
        self.keys[key.key_id] = (key.team_id, key.public_key)
        return key

    def config(self, key: ApnsKey, **extra: Any) -> dict[str, Any]:
        """The plugin's configuration pointing at this fake, trusting its CA."""
        return {"team_id": key.team_id, "key_id": key.key_id, "private_key": key.private_key,
                "topic": self.topics[0], "host": self.host, "ca_file": str(self.pki.ca_file), "timeout": 5,
                **extra}

    def to(self, device_token: str) -> list[ReceivedNotification]:
        return [n for n in self.notifications if n.device_token == device_token]

    async def start(self) -> None:
        context = self.pki.server_context()
        context.set_alpn_protocols(["h2"])
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _H2Protocol(self), "127.0.0.1", 0, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._protocols):
            protocol.close()
        await self._server.wait_closed()

    # -- a request -------------------------------------------------------------------------

    def _next_answer(self, device_token: str) -> Answer:
        script = self.answers.get(device_token, 200)
        if isinstance(script, list):
            return script.pop(0) if script else 200
        return script

    def _refuse_token(self, status: int, reason: str) -> _Refused:
        self.token_refusals.append(reason)
        return _Refused(status, reason)

    def _verify_provider_token(self, headers: dict[str, str]) -> tuple[str, str, int]:
        """(token, team, iat) of an acceptable provider token."""
        authorization = headers.get("authorization", "")
        if not authorization.startswith("bearer ") or not authorization[7:]:
            raise self._refuse_token(403, "MissingProviderToken")
        token = authorization[7:]
        unverified = unverified_jws(token)
        if unverified is None:
            raise self._refuse_token(403, "InvalidProviderToken")
        header, claims = unverified
        known = self.keys.get(str(header.get("kid")))
        if header.get("alg") != "ES256" or known is None:
            raise self._refuse_token(403, "InvalidProviderToken")
        team_id, public = known
        if claims.get("iss") != team_id:
            raise self._refuse_token(403, "InvalidProviderToken")
        try:
            jwt.decode(token, ECKey.import_key(public), algorithms=["ES256"])
        except (JoseError, ValueError):
            raise self._refuse_token(403, "InvalidProviderToken") from None
        iat = claims.get("iat")
        if not isinstance(iat, int) or isinstance(iat, bool) or iat > self.clock() + 60:
            raise self._refuse_token(403, "InvalidProviderToken")
        if self.clock() - iat > TOKEN_LIFETIME_SEC:
            raise self._refuse_token(403, "ExpiredProviderToken")
        return token, team_id, iat

    def _check_headers(self, headers: dict[str, str], body: bytes) -> None:
        topic = headers.get("apns-topic")
        if not topic:
            raise _Refused(400, "MissingTopic")
        if topic not in self.topics:
            raise _Refused(400, "TopicDisallowed")
        if headers.get("apns-push-type", "alert") not in PUSH_TYPES:
            raise _Refused(400, "InvalidPushType")
        if headers.get("apns-priority", "10") not in {"1", "5", "10"}:
            raise _Refused(400, "BadPriority")
        if not headers.get("apns-expiration", "0").isdigit():
            raise _Refused(400, "BadExpirationDate")
        if len(headers.get("apns-collapse-id", "").encode()) > 64:
            raise _Refused(400, "BadCollapseId")
        if not body:
            raise _Refused(400, "PayloadEmpty")
        if len(body) > MAX_PAYLOAD_BYTES:
            raise _Refused(413, "PayloadTooLarge")

    def handle(self, connection: _H2Protocol, stream_id: int, stream: _Stream) -> tuple[int, str | None, str]:
        """(status, reason, apns-id) for one request on ``connection``."""
        headers: dict[str, str] = {}
        duplicate = False
        for name, value in stream.headers:
            duplicate = duplicate or name in headers
            headers[name] = value
        apns_id = headers.get("apns-id") or str(uuid.uuid4())
        path = headers.get(":path", "")
        match = _DEVICE_PATH.fullmatch(path)
        device_token = unquote(match.group(1)) if match else ""
        try:
            if headers.get(":method") != "POST":
                raise _Refused(405, "MethodNotAllowed")
            if match is None:
                raise _Refused(404, "BadPath")
            if not device_token:
                raise _Refused(400, "MissingDeviceToken")
            if duplicate:
                raise _Refused(400, "DuplicateHeaders")
            token, team_id, iat = self._verify_provider_token(headers)
            connection.accept_provider_token(token, team_id, iat)
            self._check_headers(headers, bytes(stream.body))
            answer = self._next_answer(device_token)
            status, reason = answer if isinstance(answer, tuple) else (answer, DEFAULT_REASONS.get(answer, "Error"))
            if status != 200:
                raise _Refused(status, reason)
        except _Refused as refused:
            self.attempts.append((device_token, refused.status, refused.reason))
            return refused.status, refused.reason, apns_id
        self.attempts.append((device_token, 200, None))
        try:
            payload = json.loads(bytes(stream.body))
        except ValueError:
            payload = {"<not json>": bytes(stream.body).decode(errors="replace")}
        self.notifications.append(ReceivedNotification(
            connection=connection.info.number, alpn=connection.info.alpn, http_version="HTTP/2",
            stream_id=stream_id, device_token=device_token,
            headers={k: v for k, v in headers.items() if not k.startswith(":")},
            payload=payload, provider_token=token, apns_id=apns_id))
        return 200, None, apns_id


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
