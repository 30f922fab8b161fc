"""Log lines carry an auth_req_id's fingerprint, never the auth_req_id (a client could redeem
it at /token), whether it was bound into the context or passed at the call site."""

from __future__ import annotations

import io
import json

from shared.logging import auth_req_fingerprint, bind_request, configure_logging, get_logger

AUTH_REQ_ID = "k3Jx9vQ2mB7tLw0pZr5sYd8uNc4aHf1eGi6oXb"


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_bound_auth_req_id_is_logged_as_its_fingerprint_only() -> None:
    stream = io.StringIO()
    configure_logging("gateway", stream=stream)
    with bind_request(auth_req_id=AUTH_REQ_ID, client_id="kiosk"):
        get_logger("ciba.test").info("tokens_issued")
    get_logger("ciba.test").warning("late", auth_req_id=AUTH_REQ_ID)

    first, second = _lines(stream)
    assert first["auth_req"] == second["auth_req"] == auth_req_fingerprint(AUTH_REQ_ID)
    assert first["client_id"] == "kiosk"
    assert AUTH_REQ_ID not in stream.getvalue() and "auth_req_id" not in stream.getvalue()


def test_the_fingerprint_is_short_stable_and_tells_requests_apart() -> None:
    assert auth_req_fingerprint(AUTH_REQ_ID) == auth_req_fingerprint(AUTH_REQ_ID)
    assert len(auth_req_fingerprint(AUTH_REQ_ID)) == 12
    assert auth_req_fingerprint(AUTH_REQ_ID) != auth_req_fingerprint(AUTH_REQ_ID + "x")
