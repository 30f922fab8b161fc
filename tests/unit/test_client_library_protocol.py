"""The relying-party library (clients/python) without the stack: its error catalogue, the hashes
that bind an id_token to its tokens, the polling arithmetic, and the parameters of an
authentication request."""

from __future__ import annotations

import ciba_client
import pytest
from ciba_client import CibaError, UnexpectedResponse, error_for, half_hash
from ciba_client.authentication_request import authentication_parameters
from ciba_client.errors import error_from_response
from ciba_client.polling import PollSchedule

from shared import errors as server_errors

# The error catalogue.

def test_every_error_code_the_server_answers_with_has_a_class_of_the_same_name() -> None:
    """The server's catalogue (shared.errors), read by the test only: the library imports none of it."""
    own_codes = {cls.__name__: cls.__dict__["error"] for cls in vars(server_errors).values()
                 if isinstance(cls, type) and issubclass(cls, server_errors.ProtocolError) and "error" in cls.__dict__}
    for name, code in own_codes.items():
        if name in ("ProtocolError", "NotFound"):  # the base's default; an unknown route
            continue
        assert ciba_client.ERRORS[code].__name__ == name


@pytest.mark.parametrize("code", sorted(ciba_client.ERRORS))
def test_an_error_body_becomes_the_class_named_after_its_code(code: str) -> None:
    exc = error_for({"error": code, "error_description": "why"}, status=400)
    assert type(exc) is ciba_client.ERRORS[code]
    assert (exc.error, exc.description, exc.status) == (code, "why", 400)


def test_an_unknown_code_becomes_the_base_class_and_keeps_its_code() -> None:
    exc = error_for({"error": "interaction_required"}, status=400)
    assert type(exc) is CibaError and exc.error == "interaction_required" and exc.description is None


def test_an_error_answer_that_is_not_json_is_an_unexpected_response() -> None:
    exc = error_from_response(502, "<html>Bad gateway</html>")
    assert isinstance(exc, UnexpectedResponse) and exc.status == 502


def test_retry_after_is_read_from_the_answer() -> None:
    exc = error_from_response(429, '{"error": "slow_down"}', {"Retry-After": "3"})
    assert isinstance(exc, ciba_client.SlowDown) and exc.retry_after == 3.0


# Hashes (OIDC Core 3.1.3.6, CIBA 10.3.1).

def test_at_hash_matches_the_example_of_oidc_core_appendix_a() -> None:
    assert half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256") == "77QmUPtjPfzWtF2AnpK9RQ"


@pytest.mark.parametrize(("alg", "length"), [("RS256", 22), ("PS384", 32), ("ES512", 43)])
def test_the_hash_follows_the_algorithm_of_the_id_token(alg: str, length: int) -> None:
    assert len(half_hash("token", alg)) == length


# Polling (CIBA Core 7.3 and 11).

def test_polls_are_an_interval_apart_from_the_start_of_the_previous_one() -> None:
    schedule = PollSchedule(deadline=100.0, interval=5)
    assert schedule.first_poll(0.0) == 0.0
    assert schedule.after_poll(0.0) == 5.0
    assert schedule.after_poll(5.0) == 10.0


def test_slow_down_adds_five_seconds_to_this_and_every_later_interval() -> None:
    schedule = PollSchedule(deadline=100.0, interval=5)
    assert schedule.after_poll(0.0, slow_down=True) == 10.0
    assert schedule.after_poll(10.0) == 20.0


def test_a_long_poll_never_asks_to_be_held_past_the_expiry() -> None:
    schedule = PollSchedule(deadline=12.5, interval=5, max_wait=30)
    assert schedule.prefer_wait(0.0) == 13
    assert schedule.prefer_wait(12.0) is None  # less than a second left: an ordinary poll
    assert PollSchedule(deadline=100.0, max_wait=30).prefer_wait(0.0) == 30
    assert PollSchedule(deadline=100.0).prefer_wait(0.0) is None


def test_one_last_poll_reads_the_final_state_after_expiry_then_polling_stops() -> None:
    schedule = PollSchedule(deadline=8.0, interval=5)
    assert schedule.after_poll(0.0) == 5.0
    assert schedule.after_poll(5.0) == 10.0  # due after the expiry: the last one
    assert schedule.after_poll(10.0) is None


def test_a_ping_client_polls_only_as_a_fallback_and_once_at_expiry() -> None:
    schedule = PollSchedule(deadline=120.0, interval=5, spacing=60)
    assert schedule.first_poll(0.0) == 60.0
    assert schedule.after_poll(60.0) == 120.0
    assert schedule.after_poll(120.0) is None


def test_exactly_one_hint_names_the_user() -> None:
    with pytest.raises(ValueError):
        authentication_parameters(scope="openid", login_hint=None, login_hint_token=None, id_token_hint=None,
                                  binding_message=None, user_code=None, requested_expiry=None, acr_values=None,
                                  ui_locales=None, extra=None)
    params = authentication_parameters(scope=["openid", "email"], login_hint="alice", login_hint_token=None,
                                       id_token_hint=None, binding_message="K 7", user_code=None,
                                       requested_expiry=60, acr_values=["mfa", "pwd"], ui_locales=None, extra=None)
    assert params == {"scope": "openid email", "login_hint": "alice", "binding_message": "K 7",
                      "requested_expiry": "60", "acr_values": "mfa pwd"}
