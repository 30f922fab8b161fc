"""Protocol errors as the client sees them: body, status and headers (RFC 6749 5.2, RFC 6750 3,
CIBA Core 11 and 13)."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import (
    AccessDenied,
    InvalidClient,
    InvalidRequest,
    InvalidToken,
    SlowDown,
)


@pytest.mark.parametrize(
    ("error_class", "code", "status"),
    [
        (errors.InvalidRequest, "invalid_request", 400),
        (errors.InvalidClient, "invalid_client", 401),
        (errors.InvalidGrant, "invalid_grant", 400),
        (errors.UnauthorizedClient, "unauthorized_client", 400),
        (errors.UnsupportedGrantType, "unsupported_grant_type", 400),
        (errors.InvalidScope, "invalid_scope", 400),
        (errors.AccessDenied, "access_denied", 400),
        (errors.AuthorizationPending, "authorization_pending", 400),
        (errors.SlowDown, "slow_down", 400),
        (errors.ExpiredToken, "expired_token", 400),
        (errors.TransactionFailed, "transaction_failed", 400),
        (errors.UnknownUserId, "unknown_user_id", 400),
        (errors.ExpiredLoginHintToken, "expired_login_hint_token", 400),
        (errors.MissingUserCode, "missing_user_code", 400),
        (errors.InvalidUserCode, "invalid_user_code", 400),
        (errors.InvalidBindingMessage, "invalid_binding_message", 400),
        (errors.InvalidClientMetadata, "invalid_client_metadata", 400),
        (errors.InvalidToken, "invalid_token", 401),
        (errors.ServerError, "server_error", 500),
    ],
)
def test_each_error_class_carries_its_spec_code_and_status(error_class, code, status):
    error = error_class()

    assert error.body() == {"error": code}
    assert error.status == status


def test_body_carries_the_description_when_given():
    assert InvalidRequest("requested_expiry must be a positive integer").body() == {
        "error": "invalid_request",
        "error_description": "requested_expiry must be a positive integer",
    }


@pytest.mark.parametrize("description", [None, ""])
def test_body_omits_error_description_when_there_is_none(description):
    assert "error_description" not in InvalidRequest(description).body()


@pytest.mark.parametrize(
    ("description", "rendered"),
    [
        ('the "scope" is wrong', "the ?scope? is wrong"),
        ("a back\\slash", "a back?slash"),
        ("line one\nline two\ttab", "line one?line two?tab"),
        ("caf\u00e9 \u2603", "caf? ?"),
        ("kept: !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~", "kept: !#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}~"),
    ],
)
def test_error_description_drops_characters_rfc6749_forbids(description, rendered):
    assert InvalidRequest(description).body()["error_description"] == rendered


def test_invalid_client_is_401_with_a_www_authenticate_challenge():
    error = InvalidClient("client authentication failed")

    assert error.status == 401
    challenge = error.headers()["WWW-Authenticate"]
    assert challenge.startswith("Basic ")
    assert 'error="invalid_client"' in challenge


def test_invalid_token_is_401_with_a_bearer_challenge():
    error = InvalidToken("the access token has expired")

    assert error.status == 401
    challenge = error.headers()["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


def test_slow_down_with_retry_after_sends_the_retry_after_header():
    error = SlowDown("rate limit exceeded", status=429, retry_after=3)

    assert error.status == 429
    assert error.headers() == {"Retry-After": "3"}
    assert error.body() == {"error": "slow_down", "error_description": "rate limit exceeded"}


def test_slow_down_without_retry_after_sends_no_header():
    error = SlowDown()

    assert error.status == 400
    assert error.headers() == {}


@pytest.mark.parametrize(
    "error", [InvalidRequest(), AccessDenied(), errors.InvalidGrant(), errors.ServerError()]
)
def test_errors_without_a_challenge_send_no_headers(error):
    assert error.headers() == {}


def test_access_denied_can_answer_403_without_changing_the_class_default():
    refused = AccessDenied("ciba is not enabled on this server", status=403)

    assert refused.status == 403
    assert refused.body()["error"] == "access_denied"
    assert AccessDenied("the end-user denied the request").status == 400
    assert AccessDenied.status == 400


def test_message_of_the_exception_is_the_description_or_the_code():
    assert str(InvalidRequest("bad parameter")) == "bad parameter"
    assert str(errors.ExpiredToken()) == "expired_token"

