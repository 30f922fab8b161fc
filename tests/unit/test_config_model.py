"""Server properties: the defaults the README's property table promises, and how a bad value is refused."""

from __future__ import annotations

import re

import pytest

from shared.config.model import PROPERTY_NAMES, ConfigError, ServerConfig, build_config

# README, "Server properties" (featureFlags is covered separately).
DOCUMENTED_DEFAULTS = [
    ("backchannelTokenDeliveryModesSupported", ["poll", "ping", "push"]),
    ("backchannelAuthenticationResponseExpiresIn", 600),
    ("backchannelAuthenticationResponseInterval", 5),
    ("cibaMaxExpirationTimeAllowedSec", 1800),
    ("cibaGrantLifeExtraTimeSec", 180),
    ("backchannelBindingMessagePattern", r"^[\w .,:;!?#+/()'-]{1,64}$"),
    ("backchannelUserCodeParameterSupported", False),
    ("backchannelLoginHintClaims", ["username", "email", "phone_number"]),
    ("backchannelRequestsProcessorJobIntervalSec", 2),
    ("backchannelRequestsProcessorJobChunkSize", 500),
    ("backchannelAuthenticationRequestSigningAlgValuesSupported", ["PS256", "ES256", "RS256"]),
    ("backchannelPingOnExpiry", True),
    ("backchannelDeliveryMaxAttempts", 6),
    ("cibaNotificationMaxAttempts", 5),
    ("cibaLongPollingMaxWaitSec", 30),
    ("notificationEndpointAllowPrivateNetworks", False),
    ("backchannelRateLimitPerClient", 0),
    ("backchannelMaxPendingPerUser", 0),
    ("dynamicRegistrationEnabled", True),
    ("cibaEndUserNotificationConfig", {"notifier": "log"}),
]


@pytest.mark.parametrize("env", ["production", "development"])
@pytest.mark.parametrize(("name", "default"), DOCUMENTED_DEFAULTS)
def test_default_of_each_server_property_is_the_documented_one(env, name, default):
    assert getattr(build_config({}, env), name) == default


def test_documented_properties_all_exist():
    assert {name for name, _ in DOCUMENTED_DEFAULTS} | {"featureFlags"} <= set(PROPERTY_NAMES)


@pytest.mark.parametrize(
    ("env", "flags", "ciba_enabled"),
    [("development", ["ciba"], True), ("production", [], False)],
)
def test_feature_flags_default_depends_on_env(env, flags, ciba_enabled):
    config = build_config({}, env)

    assert config.featureFlags == flags
    assert config.ciba_enabled is ciba_enabled


@pytest.mark.parametrize(("env", "stored"), [("production", ["ciba"]), ("development", [])])
def test_stored_feature_flags_override_the_env_default(env, stored):
    assert build_config({"featureFlags": stored}, env).featureFlags == stored


def test_stored_value_overrides_only_its_own_property():
    config = build_config({"backchannelAuthenticationResponseInterval": 10}, "production")

    assert config.backchannelAuthenticationResponseInterval == 10
    assert config.backchannelAuthenticationResponseExpiresIn == 600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("backchannelAuthenticationResponseExpiresIn", 0),
        ("backchannelAuthenticationResponseExpiresIn", "soon"),
        ("backchannelAuthenticationResponseInterval", -1),
        ("cibaMaxExpirationTimeAllowedSec", 0),
        ("backchannelRequestsProcessorJobChunkSize", 0),
        ("backchannelRequestsProcessorJobIntervalSec", 0),
        ("backchannelDeliveryMaxAttempts", 0),
        ("cibaNotificationMaxAttempts", 51),
        ("cibaLongPollingMaxWaitSec", -1),
        ("backchannelRateLimitPerClient", -0.5),
        ("backchannelMaxPendingPerUser", -1),
        ("backchannelTokenDeliveryModesSupported", ["poll", "carrier-pigeon"]),
        ("backchannelTokenDeliveryModesSupported", []),
        ("backchannelAuthenticationRequestSigningAlgValuesSupported", ["HS256"]),
        ("backchannelLoginHintClaims", []),
        ("dynamicRegistrationEnabled", "sometimes"),
        ("featureFlags", ["ciba", "teleport"]),
    ],
)
def test_invalid_value_is_refused_with_a_message_naming_the_property(name, value):
    with pytest.raises(ConfigError, match=re.escape(name)):
        build_config({name: value}, "production")


def test_unknown_property_is_refused_by_name():
    with pytest.raises(ConfigError, match="backchannelFooBar: unknown server property"):
        build_config({"backchannelFooBar": 1}, "production")


@pytest.mark.parametrize("pattern", ["^[a-z", "(unclosed", "*start"])
def test_binding_message_pattern_that_does_not_compile_is_refused(pattern):
    with pytest.raises(ConfigError, match="backchannelBindingMessagePattern: .*regular expression"):
        build_config({"backchannelBindingMessagePattern": pattern}, "production")


@pytest.mark.parametrize(
    "value",
    [{}, {"webhook": {"url": "https://hooks.example/ciba"}}, {"notifier": ""}, {"notifier": 7}],
)
def test_end_user_notification_config_must_name_a_notifier(value):
    with pytest.raises(ConfigError, match="cibaEndUserNotificationConfig"):
        build_config({"cibaEndUserNotificationConfig": value}, "production")


def test_end_user_notification_config_keeps_the_plugin_section():
    value = {"notifier": "webhook", "webhook": {"url": "https://hooks.example/ciba", "secret": "s"}}

    assert build_config({"cibaEndUserNotificationConfig": value}, "production").cibaEndUserNotificationConfig == value


def test_several_bad_values_are_all_named():
    with pytest.raises(ConfigError) as refused:
        build_config({"cibaLongPollingMaxWaitSec": -1, "noSuchThing": True}, "production")

    assert "cibaLongPollingMaxWaitSec" in str(refused.value)
    assert "noSuchThing" in str(refused.value)


@pytest.mark.parametrize(
    ("message", "accepted"),
    [
        ("Pay 42 EUR to Shop #7", True),
        ("Überweisung: 12,50 (Café)", True),
        ("it's ok/yes?", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("<script>", False),
        ("line\nbreak", False),
    ],
)
def test_default_binding_message_pattern_allows_letters_digits_space_and_listed_punctuation(message, accepted):
    pattern = ServerConfig().backchannelBindingMessagePattern

    assert (re.fullmatch(pattern, message) is not None) is accepted


def test_config_is_immutable():
    config = build_config({}, "production")

    with pytest.raises(ValueError, match="frozen"):
        config.cibaLongPollingMaxWaitSec = 1  # type: ignore[misc]
