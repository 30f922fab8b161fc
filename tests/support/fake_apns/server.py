"""The fake APNs itself: ``FakeApns`` listens on 127.0.0.1 over TLS (ALPN ``h2`` only), checks each
``POST /3/device/{device_token}`` as Apple does (the provider token, the headers, the payload),
answers as scripted per device token, and records every request and each accepted
notification."""

from __future__ import annotations

import asyncio
import json
import re
import ssl
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from tests.support.fake_apns.connection import _H2Protocol
from tests.support.fake_apns.records import (
    DEFAULT_REASONS,
    DEFAULT_TOPIC,
    MAX_PAYLOAD_BYTES,
    PUSH_TYPES,
    TOKEN_LIFETIME_SEC,
    Answer,
    ApnsKey,
    ConnectionInfo,
    ReceivedNotification,
    _Refused,
    _Stream,
    generate_apns_key,
)
from tests.support.local_server import unverified_jws
from tests.support.tls import TestPKI

_DEVICE_PATH = re.compile(r"/3/device/([^/?#]*)")


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
