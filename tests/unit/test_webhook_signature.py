"""The ``webhook`` notification plugin: the JSON it posts and its X-CIBA-Signature
(README, "End-user notification")."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import structlog
from aiohttp.streams import EMPTY_PAYLOAD

from services.notifier.plugins.base import NotificationContext, NotifiedUser
from services.notifier.plugins.webhook import SIGNATURE_HEADER, WebhookNotifier, payload, signature

EXPIRES_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status = status
        self.content = EMPTY_PAYLOAD  # the plugin reads the answer to its end

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class FakeHttp:
    """Records what the plugin posts; answers with a fixed status."""

    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.posts: list[dict] = []

    def post(self, url: str, *, data: bytes, headers: dict[str, str], **kwargs: object) -> FakeResponse:
        self.posts.append({"url": url, "data": data, "headers": headers, **kwargs})
        return FakeResponse(self.status)


def context(http: FakeHttp | None = None, **config: object) -> NotificationContext:
    return NotificationContext(
        notification_id="5f0c7f4e-0a51-4c1e-9a52-8d1f0e0b7a11",
        authorization_url="https://as.example.com/device/Zm9vYmFy",
        binding_message="Pay 42 EUR",
        client_name="Shop",
        scope=["openid", "email"],
        acr_values=["pwd"],
        user=NotifiedUser("sub-alice", "alice", "alice@example.com", "+15550100"),
        expires_at=EXPIRES_AT,
        attempt=1,
        config={"url": "https://hooks.example.com/ciba", **config},
        http=http or FakeHttp(),  # type: ignore[arg-type]
        log=structlog.get_logger("test"),
    )


def test_payload_carries_the_documented_fields():
    assert payload(context()) == {
        "notification_id": "5f0c7f4e-0a51-4c1e-9a52-8d1f0e0b7a11",
        "authorization_url": "https://as.example.com/device/Zm9vYmFy",
        "binding_message": "Pay 42 EUR",
        "client_name": "Shop",
        "scope": ["openid", "email"],
        "acr_values": ["pwd"],
        "user": {"sub": "sub-alice", "username": "alice"},
        "expires_at": "2030-01-02T03:04:05Z",
        "ui_locales": [],
    }


def test_payload_carries_the_languages_the_client_asked_for():
    assert payload(replace(context(), ui_locales=["fr-CA", "en"]))["ui_locales"] == ["fr-CA", "en"]


def test_payload_keeps_absent_binding_message_and_acr_values_as_null():
    body = payload(replace(context(), binding_message=None, acr_values=None))

    assert body["binding_message"] is None
    assert body["acr_values"] is None


@pytest.mark.parametrize(
    ("expires_at", "rendered"),
    [
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05Z"),
        (datetime(2030, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), "2030-01-02T03:04:05.250000Z"),
        (datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))), "2030-01-02T03:04:05+02:00"),
    ],
)
def test_expires_at_is_rfc3339_with_z_for_utc(expires_at, rendered):
    value = payload(replace(context(), expires_at=expires_at))["expires_at"]

    assert value == rendered
    assert datetime.fromisoformat(value) == expires_at


def test_payload_never_carries_email_or_phone():
    text = json.dumps(payload(context()))

    assert "alice@example.com" not in text
    assert "+15550100" not in text


@pytest.mark.parametrize("secret", ["test-webhook-secret", "s\u00e9cr\u00e9t-\u2603"])
def test_signature_is_sha256_hex_hmac_of_the_body_keyed_with_the_utf8_secret(secret):
    body = b'{"notification_id":"n-1"}'
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()

    assert signature(body, secret) == f"sha256={expected}"


async def test_notify_posts_the_payload_signed_over_the_exact_raw_body():
    http = FakeHttp()
    secret = "s\u00e9cret"

    result = await WebhookNotifier().notify(context(http, secret=secret))

    assert result.ok
    [post] = http.posts
    assert post["url"] == "https://hooks.example.com/ciba"
    assert post["headers"]["Content-Type"] == "application/json"
    raw = post["data"]
    assert json.loads(raw) == payload(context())
    digest = hmac.new(secret.encode("utf-8"), raw, hashlib.sha256).hexdigest()
    assert post["headers"][SIGNATURE_HEADER] == f"sha256={digest}"
    assert post["allow_redirects"] is False


async def test_notify_without_a_secret_sends_no_signature():
    http = FakeHttp()

    await WebhookNotifier().notify(context(http))

    assert SIGNATURE_HEADER not in http.posts[0]["headers"]


@pytest.mark.parametrize(
    ("status", "ok", "permanent"),
    [(200, True, False), (204, True, False), (400, False, True), (404, False, True), (408, False, False),
     (429, False, False), (500, False, False), (503, False, False)],
)
async def test_notify_outcome_follows_the_receivers_status(status, ok, permanent):
    result = await WebhookNotifier().notify(context(FakeHttp(status)))

    assert (result.ok, result.permanent) == (ok, permanent)


@pytest.mark.parametrize("url", [None, "", "ftp://hooks.example.com", 42])
async def test_notify_without_a_usable_url_fails_for_good_without_posting(url):
    http = FakeHttp()
    ctx = replace(context(http), config={"url": url})

    result = await WebhookNotifier().notify(ctx)

    assert not result.ok and result.permanent
    assert http.posts == []
