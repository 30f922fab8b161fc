"""The ``fcm`` plugin's pure parts: its settings, the assertion it signs, how it reads FCM's
error answers and how per-device outcomes add up to one result."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.notifier.plugins.fcm import (
    DEFAULT_API_BASE,
    DEFAULT_TOKEN_URI,
    SCOPE,
    FcmConfigError,
    FcmError,
    settings_from,
    sign_assertion,
    summarise,
)
from services.notifier.plugins.push import DeviceOutcome
from shared.clock import rfc3339
from tests.support.fake_fcm import generate_service_account, scripted

TOKEN_URI = "https://oauth2.example.com/token"


@pytest.fixture(scope="module")
def account_and_key():
    return generate_service_account(TOKEN_URI, project_id="acct-project")


def test_settings_default_to_google_and_the_service_accounts_project(account_and_key):
    account, _ = account_and_key
    settings = settings_from({"service_account": {**account, "token_uri": None}})

    assert settings.token_uri == DEFAULT_TOKEN_URI
    assert settings.api_base == DEFAULT_API_BASE
    assert settings.project_id == "acct-project"
    assert settings.timeout == 10
    assert settings.send_url == "https://fcm.googleapis.com/v1/projects/acct-project/messages:send"


def test_settings_from_the_plugin_configuration_win(account_and_key):
    account, _ = account_and_key
    settings = settings_from({"service_account": account, "project_id": "p2", "api_base": "http://127.0.0.1:1/",
                              "token_uri": "http://127.0.0.1:1/token", "timeout": 2})

    assert (settings.project_id, settings.api_base, settings.token_uri, settings.timeout) == (
        "p2", "http://127.0.0.1:1", "http://127.0.0.1:1/token", 2.0)
    assert settings.cache_key == (account["client_email"], "http://127.0.0.1:1/token")


@pytest.mark.parametrize("change", [
    {"service_account": None},
    {"project_id": "a/b"},
    {"api_base": "ftp://x"},
    {"timeout": "soon"},
    {"timeout": 0},
])
def test_unusable_settings_are_refused(account_and_key, change):
    account, _ = account_and_key
    with pytest.raises(FcmConfigError):
        settings_from({"service_account": account, **change})


@pytest.mark.parametrize(("change", "message"), [
    ({"service_account": None}, "fcm.service_account is not configured"),
    ({"service_account": "[1]"}, "fcm.service_account is not configured"),
    ({"service_account": "{not json"}, "fcm.service_account is not JSON"),
    ({"service_account": {"private_key": "x"}}, "fcm.service_account.client_email is missing"),
    ({"service_account": {"client_email": "a@b", "private_key": "x"}},
     "fcm.service_account.private_key is missing or not a PEM private key"),
    ({"project_id": "a/b"}, "fcm.project_id (or service_account.project_id) is missing"),
    ({"token_uri": "ftp://x"}, "fcm.token_uri must be an http(s) URL"),
    ({"api_base": 7}, "fcm.api_base must be an http(s) URL"),
    ({"timeout": None}, "fcm.timeout must be a number of seconds"),
    ({"timeout": -1}, "fcm.timeout must be positive"),
    ({"timeout": 0, "api_base": "ftp://x"}, "fcm.api_base must be an http(s) URL"),  # the first in order
])
def test_the_operator_is_told_which_setting_is_wrong(account_and_key, change, message):
    account, _ = account_and_key
    with pytest.raises(FcmConfigError) as refused:
        settings_from({"service_account": account, **change})

    assert str(refused.value) == message


def test_the_service_account_may_be_its_json_text_and_supplies_what_the_section_leaves_out(account_and_key):
    account, _ = account_and_key
    settings = settings_from({"service_account": json.dumps(account), "project_id": "", "token_uri": None})

    assert (settings.project_id, settings.token_uri) == ("acct-project", TOKEN_URI)
    assert account["private_key"] not in repr(settings)


def test_the_assertion_is_an_rs256_jwt_for_the_firebase_messaging_scope(account_and_key):
    account, public = account_and_key
    settings = settings_from({"service_account": account})

    token = jwt.decode(sign_assertion(settings, 1_700_000_000.7), RSAKey.import_key(public), algorithms=["RS256"])

    assert token.header == {"alg": "RS256", "typ": "JWT", "kid": account["private_key_id"]}
    assert token.claims == {"iss": account["client_email"], "scope": SCOPE, "aud": TOKEN_URI,
                            "iat": 1_700_000_000, "exp": 1_700_003_600}


def test_an_unusable_private_key_never_shows_in_the_error(account_and_key):
    account, _ = account_and_key
    broken = account["private_key"].replace("\n", "\n!", 3)
    settings = settings_from({"service_account": {**account, "private_key": broken}})

    with pytest.raises(FcmConfigError) as caught:
        sign_assertion(settings, 0)

    assert broken.splitlines()[1] not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(("moment", "text"), [
    (datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC), "2030-01-02T03:04:05Z"),
    (datetime(2030, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), "2030-01-02T03:04:05Z"),
    (datetime(2030, 1, 2, 3, 4, 5), "2030-01-02T03:04:05Z"),
])
def test_expires_at_is_rfc3339_in_utc_with_z(moment, text):
    assert rfc3339(moment) == text


@pytest.mark.parametrize(("answer", "dead", "retryable", "unauthenticated"), [
    ("UNREGISTERED", True, False, False),
    ("INVALID_ARGUMENT", True, False, False),
    ("SENDER_ID_MISMATCH", False, False, False),
    ("THIRD_PARTY_AUTH_ERROR", False, False, False),
    ("QUOTA_EXCEEDED", False, True, False),
    ("UNAVAILABLE", False, True, False),
    ("INTERNAL", False, True, False),
    ("UNAUTHENTICATED", False, False, True),
    (404, False, False, False),  # NOT_FOUND without UNREGISTERED: e.g. a wrong project id
    (403, False, False, False),
    (429, False, True, False),
    (502, False, True, False),
])
def test_fcm_errors_are_read_from_their_fcm_error_detail(answer, dead, retryable, unauthenticated):
    status, body = scripted(answer)
    error = FcmError.parse(status, body)

    assert (error.device_is_dead, error.retryable, error.unauthenticated) == (dead, retryable, unauthenticated)


def test_an_invalid_argument_about_the_token_field_is_a_dead_device_but_not_about_the_data():
    def error(field: str) -> FcmError:
        return FcmError.parse(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT", "details": [
            {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "INVALID_ARGUMENT"},
            {"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field}]}]}})

    assert error("message.token").device_is_dead
    assert not error("message.data[0].value").device_is_dead
    # Without a FcmError detail (a malformed message), never.
    assert not FcmError.parse(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}).device_is_dead


def test_a_non_json_answer_is_read_by_its_status():
    assert FcmError.parse(502, None).retryable
    assert FcmError.parse(502, None).label == "HTTP 502"
    assert FcmError.parse(404, {"error": {"status": "NOT_FOUND", "details": [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}
    ).label == "HTTP 404 NOT_FOUND UNREGISTERED"


def outcomes(*kinds: str) -> list[DeviceOutcome]:
    return [DeviceOutcome(f"dev-{n}", kind, "x") for n, kind in enumerate(kinds)]


@pytest.mark.parametrize(("kinds", "ok", "permanent", "dead"), [
    (("sent",), True, False, ()),
    (("sent", "unregistered", "retryable"), True, False, ("dev-1",)),
    (("unregistered", "unregistered"), False, True, ("dev-0", "dev-1")),
    (("unregistered", "retryable"), False, False, ("dev-0",)),
    (("failed", "retryable"), False, False, ()),
    (("failed", "unregistered"), False, True, ("dev-1",)),
])
def test_outcomes_add_up_to_one_result(kinds, ok, permanent, dead):
    result = summarise(outcomes(*kinds))

    assert (result.ok, result.permanent, result.unregistered_devices) == (ok, permanent, dead)
