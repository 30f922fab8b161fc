"""The ``apns`` plugin's pure parts: its settings, the provider token it signs, the request it
builds, how it reads APNs's error answers and how per-device outcomes add up to one result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from services.notifier.plugins.apns import (
    DEFAULT_TIMEOUT_SEC,
    ApnsConfigError,
    ApnsError,
    headers_for,
    payload_for,
    settings_from,
    sign_provider_token,
    summarise,
)
from services.notifier.plugins.push import DeviceOutcome
from tests.support.fake_apns import generate_apns_key

KEY = generate_apns_key("TEAM123456", "KEY1234567")


def config(**change: object) -> dict[str, object]:
    base: dict[str, object] = {"team_id": KEY.team_id, "key_id": KEY.key_id, "private_key": KEY.private_key,
                               "topic": "com.example.app"}
    return {k: v for k, v in {**base, **change}.items() if v is not None}


# -- settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "host"), [
    ({}, "api.push.apple.com"),
    ({"environment": "production"}, "api.push.apple.com"),
    ({"environment": "sandbox"}, "api.sandbox.push.apple.com"),
    ({"environment": "development"}, "api.sandbox.push.apple.com"),
    ({"environment": "sandbox", "host": "apns.internal.example:8443"}, "apns.internal.example:8443"),
    ({"host": "[::1]:2197"}, "[::1]:2197"),
])
def test_the_host_follows_the_environment_unless_overridden(change, host):
    settings = settings_from(config(**change))

    assert settings.host == host
    assert settings.url_for("ab/cd") == f"https://{host}/3/device/ab%2Fcd"


def test_defaults():
    settings = settings_from(config())

    assert settings.timeout == DEFAULT_TIMEOUT_SEC
    assert settings.ca_file is None
    assert KEY.private_key not in repr(settings)


def test_a_key_pasted_with_escaped_newlines_is_read():
    escaped = KEY.private_key.strip().replace("\n", "\\n")

    settings = settings_from(config(private_key=escaped))

    assert settings.private_key.strip() == KEY.private_key.strip()
    sign_provider_token(settings, 1_700_000_000)


@pytest.mark.parametrize("change", [
    {"team_id": "TEAM12345"}, {"team_id": 1234567890}, {"key_id": None}, {"key_id": "KEY 123456"},
    {"topic": ""}, {"topic": "com.example app"}, {"environment": "prod"}, {"environment": None, "host": 5},
    {"host": "api.push.apple.com/x"}, {"host": "user@api.push.apple.com"}, {"host": ":443"},
    {"timeout": True}, {"timeout": -1}, {"ca_file": 3},
])
def test_unusable_settings_are_refused(change):
    with pytest.raises(ApnsConfigError) as refused:
        settings_from(config(**change))

    assert str(refused.value).startswith("apns.")


APPLE_ID = "must be the 10-character identifier from Apple's developer account"
HOST_NAME = "apns.host must be a host name, optionally with :port"


@pytest.mark.parametrize(("change", "message"), [
    ({"team_id": "TEAM12345"}, f"apns.team_id {APPLE_ID}"),
    ({"key_id": None}, f"apns.key_id {APPLE_ID}"),
    ({"private_key": "not a key"}, "apns.private_key is missing or not a PEM private key (the .p8 file)"),
    ({"topic": "com.example app"}, "apns.topic must be the app's bundle ID"),
    ({"environment": "prod"}, 'apns.environment must be "production" or "sandbox"'),
    ({"host": "api.push.apple.com/x"}, HOST_NAME),
    ({"host": 5}, HOST_NAME),
    ({"host": "[::1"}, HOST_NAME),
    ({"host": "api.push.apple.com:99999"}, "apns.host has an invalid port"),
    ({"ca_file": 3}, "apns.ca_file must be a path"),
    ({"timeout": "soon"}, "apns.timeout must be a number of seconds"),
    ({"timeout": True}, "apns.timeout must be a number of seconds"),
    ({"timeout": 0}, "apns.timeout must be positive"),
    ({"topic": "", "timeout": 0, "key_id": "short"}, f"apns.key_id {APPLE_ID}"),  # the first in order
])
def test_the_operator_is_told_which_setting_is_wrong(change, message):
    with pytest.raises(ApnsConfigError) as refused:
        settings_from(config(**change))

    assert str(refused.value) == message


def test_a_host_of_its_own_leaves_the_environment_unread():
    assert settings_from(config(environment="staging", host="apns.internal.example")).host == "apns.internal.example"


# -- the provider token ----------------------------------------------------------------------


def test_the_provider_token_carries_only_what_apple_asks_for():
    token = sign_provider_token(settings_from(config()), 1_700_000_000.9)

    verified = jwt.decode(token, ECKey.import_key(KEY.public_key), algorithms=["ES256"])
    assert verified.header == {"alg": "ES256", "kid": "KEY1234567"}
    assert verified.claims == {"iss": "TEAM123456", "iat": 1_700_000_000}


# -- the request -------------------------------------------------------------------------------


def ctx(**change: object) -> SimpleNamespace:
    base = {"client_name": "Shop", "binding_message": "Pay 42 EUR", "authorization_url": "https://as/x",
            "notification_id": "n-1", "expires_at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)}
    return SimpleNamespace(**{**base, **change})


def test_headers_carry_the_expiry_as_unix_time_and_the_notification_id_as_collapse_id():
    headers = headers_for(ctx(expires_at=datetime(2030, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))),
                          settings_from(config()))

    assert headers == {"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-priority": "10",
                       "apns-expiration": "1893553445", "apns-collapse-id": "n-1",
                       "content-type": "application/json"}


def test_a_notification_id_longer_than_apns_allows_is_not_a_collapse_id():
    headers = headers_for(ctx(notification_id="x" * 65), settings_from(config()))

    assert "apns-collapse-id" not in headers


def test_a_naive_expiry_is_read_as_utc():
    payload = payload_for(ctx(expires_at=datetime(2030, 1, 2, 3, 4, 5)))  # type: ignore[arg-type]

    assert payload["expires_at"] == "2030-01-02T03:04:05Z"


# -- answers and outcomes ------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "body", "dead", "expired", "retryable"), [
    (410, b'{"reason":"Unregistered","timestamp":1}', True, False, False),
    (410, b'{"reason":"ExpiredToken"}', True, False, False),
    (400, b'{"reason":"BadDeviceToken"}', False, False, False),
    (400, b'{"reason":"DeviceTokenNotForTopic"}', False, False, False),
    (400, b'{"reason":"TopicDisallowed"}', False, False, False),
    (403, b'{"reason":"ExpiredProviderToken"}', False, True, False),
    (403, b'{"reason":"InvalidProviderToken"}', False, False, False),
    (429, b'{"reason":"TooManyRequests"}', False, False, True),
    (500, b"", False, False, True),
    (503, b'{"reason":"Shutdown"}', False, False, True),
])
def test_error_answers_are_read_by_status_and_reason(status, body, dead, expired, retryable):
    error = ApnsError.parse(status, body)

    assert (error.device_is_dead, error.provider_token_expired, error.retryable) == (dead, expired, retryable)


def test_a_reason_that_is_not_a_plain_word_is_not_repeated():
    assert ApnsError.parse(400, b'{"reason":"<script>tok-123</script>"}').label == "HTTP 400"


def outcome(kind: str, n: int = 1) -> DeviceOutcome:
    return DeviceOutcome(f"dev-{kind}-{n}", kind, "x")


@pytest.mark.parametrize(("outcomes", "ok", "permanent", "dead"), [
    ([outcome("sent"), outcome("unregistered")], True, False, ("dev-unregistered-1",)),
    ([outcome("unregistered"), outcome("unregistered", 2)], False, True,
     ("dev-unregistered-1", "dev-unregistered-2")),
    ([outcome("retryable"), outcome("unregistered")], False, False, ("dev-unregistered-1",)),
    ([outcome("failed"), outcome("unregistered")], False, True, ("dev-unregistered-1",)),
    ([outcome("failed"), outcome("retryable")], False, False, ()),
])
def test_device_outcomes_add_up_like_fcms(outcomes, ok, permanent, dead):
    result = summarise(outcomes)

    assert (result.ok, result.permanent, result.unregistered_devices) == (ok, permanent, dead)
