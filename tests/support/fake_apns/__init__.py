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

The package: ``records`` (Apple's limits, the signing keys, what the fake records), ``server``
(``FakeApns``: the checks and the scripted answers) and ``connection`` (one client's HTTP/2
connection).
"""

from tests.support.fake_apns.records import (
    DEFAULT_REASONS,
    DEFAULT_TOPIC,
    MAX_PAYLOAD_BYTES,
    PUSH_TYPES,
    TOKEN_LIFETIME_SEC,
    TOKEN_MIN_UPDATE_INTERVAL_SEC,
    Answer,
    ApnsKey,
    ConnectionInfo,
    ReceivedNotification,
    generate_apns_key,
)
from tests.support.fake_apns.server import FakeApns

__all__ = [
    "DEFAULT_REASONS",
    "DEFAULT_TOPIC",
    "MAX_PAYLOAD_BYTES",
    "PUSH_TYPES",
    "TOKEN_LIFETIME_SEC",
    "TOKEN_MIN_UPDATE_INTERVAL_SEC",
    "Answer",
    "ApnsKey",
    "ConnectionInfo",
    "FakeApns",
    "ReceivedNotification",
    "generate_apns_key",
]
