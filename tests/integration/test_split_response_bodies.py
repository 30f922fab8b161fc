"""Answers whose body arrives in two TCP segments, 200 ms apart (security audit, issue 8,
finding 3): every outbound call reads the body to its end, within its size cap.

The server is tests/support/slow_body_server.py; the body is framed by Content-Length or by
chunked transfer coding. The jwks_uri tests use the in-process gateway (database needed); the
others drive the plugin or ``post_json`` directly."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from structlog.testing import capture_logs

from services.notifier.plugins.fcm import FcmNotifier
from services.notifier.plugins.webhook import WebhookNotifier
from shared.outbound import AddressPolicy, create_session, post_json
from tests.support.fake_fcm import generate_service_account
from tests.support.gateway_client import CIBA_GRANT, add_user, register_raw
from tests.support.jwt_client import ClientSigner, assertion_claims
from tests.support.notification_context import device, notification_context
from tests.support.slow_body_server import SlowAnswer, SlowBodyServer, json_answer

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
FRAMINGS = pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
CAP = 64 * 1024
LOOPBACK_ALLOWED = AddressPolicy(allow_private=False, allow_loopback=True)


@pytest.fixture
async def slow() -> AsyncIterator[SlowBodyServer]:
    async with SlowBodyServer() as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def guarded() -> AsyncIterator[aiohttp.ClientSession]:
    """An outbound session as token-delivery has it in development."""
    async with create_session(ca_bundle=None, policy=lambda: LOOPBACK_ALLOWED, user_agent="test") as http:
        yield http


def padded_jwks(signer: ClientSigner, size: int) -> dict[str, Any]:
    """The signer's JWK Set, made about ``size`` bytes long with an extra member."""
    return {"keys": signer.jwks["keys"], "padding": "x" * size}


# -- the helper ----------------------------------------------------------------------------


@FRAMINGS
async def test_read_body_reads_a_body_in_two_parts_to_its_end(slow, session, chunked) -> None:
    from shared.outbound import read_body

    slow.answers["/doc"] = SlowAnswer(b"a" * 5000 + b"b" * 5000, chunked=chunked)
    async with session.get(slow.url("/doc")) as response:
        body = await read_body(response, CAP)
    assert body == b"a" * 5000 + b"b" * 5000


@FRAMINGS
async def test_read_body_accepts_a_body_of_exactly_the_cap(slow, session, chunked) -> None:
    from shared.outbound import read_body

    slow.answers["/doc"] = SlowAnswer(b"z" * CAP, chunked=chunked)
    async with session.get(slow.url("/doc")) as response:
        assert len(await read_body(response, CAP)) == CAP


@FRAMINGS
async def test_read_body_refuses_a_body_past_the_cap(slow, session, chunked) -> None:
    from shared.outbound import ResponseTooLarge, read_body

    slow.answers["/doc"] = SlowAnswer(b"z" * (CAP + 1), chunked=chunked)
    async with session.get(slow.url("/doc")) as response:
        with pytest.raises(ResponseTooLarge):
            await read_body(response, CAP)


# -- jwks_uri (private_key_jwt) --------------------------------------------------------------


async def _authenticate_at(http, gateway, endpoint: str, assertion: str) -> tuple[int, dict[str, Any]]:
    if endpoint == "/bc-authorize":
        hint = (await add_user(gateway)).username
        form = {"scope": "openid", "login_hint": hint}
    else:
        form = {"grant_type": CIBA_GRANT, "auth_req_id": "unknown"}
    response = await http.post(endpoint, data={**form, "client_assertion_type": JWT_BEARER,
                                                "client_assertion": assertion})
    return response.status, await response.json()


@FRAMINGS
@pytest.mark.parametrize(("endpoint", "authenticated"), [("/bc-authorize", 200), ("/token", 400)])
async def test_private_key_jwt_works_with_a_jwks_uri_whose_body_arrives_in_two_parts(
        http, gateway, slow, chunked, endpoint, authenticated) -> None:
    signer = ClientSigner("ES256")
    slow.answers["/jwks.json"] = json_answer(signer.jwks, chunked=chunked)
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt",
                                jwks_uri=slow.url("/jwks.json"))
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer))

    status, body = await _authenticate_at(http, gateway, endpoint, assertion)

    # /token: authenticated, the answer is about the (unknown) grant, not the client.
    assert status == authenticated, body
    assert len(slow.requests_to("/jwks.json")) == 1


async def test_a_jwks_document_just_under_the_cap_in_two_parts_is_used(http, gateway, slow) -> None:
    signer = ClientSigner("RS256")
    slow.answers["/jwks.json"] = json_answer(padded_jwks(signer, CAP - 4096))
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt",
                                jwks_uri=slow.url("/jwks.json"))
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer))

    assert (await _authenticate_at(http, gateway, "/bc-authorize", assertion))[0] == 200


@FRAMINGS
async def test_a_jwks_document_over_64_kib_is_unusable(http, gateway, slow, chunked) -> None:
    signer = ClientSigner("ES256")
    slow.answers["/jwks.json"] = json_answer(padded_jwks(signer, CAP + 1), chunked=chunked)
    client = await register_raw(http, token_endpoint_auth_method="private_key_jwt",
                                jwks_uri=slow.url("/jwks.json"))
    assertion = signer.sign(assertion_claims(client["client_id"], gateway.issuer))

    with capture_logs() as logs:
        status, body = await _authenticate_at(http, gateway, "/bc-authorize", assertion)

    assert (status, body["error"]) == (401, "invalid_client")
    # Refused for its size, not for being cut short.
    assert [e["detail"] for e in logs if e["event"] == "client_jwks_uri_unusable"] == [
        "jwks_uri document is too large"]
    assert "too large" not in body["error_description"]  # the client is told nothing more


# -- the fcm plugin ------------------------------------------------------------------------


def _fcm_context(slow: SlowBodyServer, session: aiohttp.ClientSession):
    account, _public = generate_service_account(slow.url("/token"))
    config = {"service_account": account, "api_base": slow.url(""), "token_uri": slow.url("/token"),
              "timeout": 5}
    return notification_context(config=config, http=session, devices=[device("tok-phone")],
                                log=structlog.get_logger("ciba.notification").bind(notifier="fcm"))


SEND_PATH = "/v1/projects/ciba-test/messages:send"
FCM_ACCEPTED = {"name": "projects/ciba-test/messages/0:1700000000000000%31bd1c9631bd1c96"}
ACCESS_TOKEN = {"access_token": "ya29.split-" + "t" * 200, "expires_in": 3599, "token_type": "Bearer"}


@FRAMINGS
async def test_fcm_counts_a_success_reply_in_two_parts_as_sent(slow, session, chunked) -> None:
    slow.answers["/token"] = json_answer(ACCESS_TOKEN, split=False)
    slow.answers[SEND_PATH] = json_answer(FCM_ACCEPTED, chunked=chunked)

    result = await FcmNotifier().notify(_fcm_context(slow, session))

    assert result.ok, result
    assert len(slow.requests_to(SEND_PATH)) == 1  # sent once: nothing to retry, no duplicate


@FRAMINGS
async def test_fcm_uses_an_access_token_whose_answer_arrives_in_two_parts(slow, session, chunked) -> None:
    slow.answers["/token"] = json_answer(ACCESS_TOKEN, chunked=chunked)
    slow.answers[SEND_PATH] = json_answer(FCM_ACCEPTED, split=False)

    result = await FcmNotifier().notify(_fcm_context(slow, session))

    assert result.ok, result
    [sent] = slow.requests_to(SEND_PATH)
    assert sent.headers["authorization"] == f"Bearer {ACCESS_TOKEN['access_token']}"


async def test_fcm_an_error_reply_in_two_parts_is_still_read_for_its_reason(slow, session) -> None:
    slow.answers["/token"] = json_answer(ACCESS_TOKEN, split=False)
    slow.answers[SEND_PATH] = json_answer({"error": {
        "code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
        "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                     "errorCode": "UNREGISTERED"}]}}, status=404)

    result = await FcmNotifier().notify(_fcm_context(slow, session))

    assert result.unregistered_devices == ("id-tok-phone",), result


# -- post_json (ping and push callbacks) and the webhook --------------------------------------


@FRAMINGS
async def test_post_json_reads_a_split_200_to_its_end_and_counts_it_delivered(slow, guarded, chunked) -> None:
    slow.answers["/cb"] = json_answer({"received": True, "note": "n" * 4000}, chunked=chunked)

    results = [await post_json(guarded, slow.url("/cb"), {"auth_req_id": f"r{n}"}, bearer="b", timeout=5)
               for n in range(2)]

    assert [(r.outcome, r.status_code) for r in results] == [("delivered", 200)] * 2
    # Each answer was read to its end, so the connection went back to the pool and was reused.
    assert slow.connections == 1


@pytest.mark.parametrize(("status", "outcome"), [(200, "delivered"), (503, "retry"), (400, "final")])
async def test_post_json_an_answer_over_the_cap_does_not_change_the_outcome(slow, guarded, status, outcome) -> None:
    """The status is the relying party's answer; the cap only stops us buffering its body."""
    slow.answers["/cb"] = SlowAnswer(b"x" * (CAP * 2), status=status)

    result = await post_json(guarded, slow.url("/cb"), {"auth_req_id": "r"}, bearer="b", timeout=5)

    assert (result.outcome, result.status_code) == (outcome, status)


async def test_post_json_a_200_whose_body_is_still_arriving_at_the_timeout_is_delivered(slow, guarded) -> None:
    """The relying party has answered 200; calling again would deliver the tokens twice."""
    slow.pause = 1.0
    slow.answers["/cb"] = json_answer({"received": True})

    result = await post_json(guarded, slow.url("/cb"), {"auth_req_id": "r"}, bearer="b", timeout=0.3)

    assert (result.outcome, result.status_code) == ("delivered", 200)
    await asyncio.sleep(0.01)  # the timeout left no cancellation behind in this task


@FRAMINGS
async def test_the_webhook_reads_a_split_2xx_to_its_end_and_counts_it_sent(slow, session, chunked) -> None:
    slow.answers["/notify"] = json_answer({"queued": True, "note": "n" * 4000}, chunked=chunked)
    ctx = notification_context(config={"url": slow.url("/notify")}, http=session)

    results = [await WebhookNotifier().notify(ctx) for _ in range(2)]

    assert all(r.ok for r in results), results
    assert len(slow.requests_to("/notify")) == 2
    assert slow.connections == 1
