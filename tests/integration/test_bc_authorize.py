"""/bc-authorize: every rule of CIBA Core 7.1 this server enforces, with the exact error and
status of section 13, driven over HTTP against the real database."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient

from services.gateway.context import Gateway
from tests.support.gateway_client import Client, add_user, register, server_property


@pytest.fixture
async def client(http: TestClient) -> Client:
    return await register(http, scope="openid email")


@pytest.fixture
async def hint(gateway: Gateway) -> str:
    return (await add_user(gateway)).email


async def post(http: TestClient, client: Client, data: dict[str, str], **kwargs):
    response = await http.post("/bc-authorize", data=data, headers=client.basic, **kwargs)
    return response.status, await response.json(), response.headers


async def test_a_valid_request_answers_auth_req_id_expires_in_and_interval(http, client, hint) -> None:
    status, body, headers = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert status == 200
    assert set(body) == {"auth_req_id", "expires_in", "interval"}
    assert re.fullmatch(r"[A-Za-z0-9._-]+", body["auth_req_id"]) and len(body["auth_req_id"]) >= 27
    assert (body["expires_in"], body["interval"]) == (600, 5)
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("field", ["username", "email", "phone_number"])
async def test_login_hint_matches_username_email_and_phone(http, gateway, client, field) -> None:
    user = await add_user(gateway)
    status, body, _ = await post(http, client, {"scope": "openid", "login_hint": getattr(user, field)})
    assert status == 200, body


async def test_requested_expiry_is_honoured(http, client, hint) -> None:
    status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint,
                                                "requested_expiry": "120"})
    assert (status, body["expires_in"]) == (200, 120)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"login_hint": "HINT"}, "invalid_scope"),
        ({"scope": "email", "login_hint": "HINT"}, "invalid_scope"),
        ({"scope": "openid phone", "login_hint": "HINT"}, "invalid_scope"),
        ({"scope": "openid"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "id_token_hint": "x.y.z"}, "invalid_request"),
        ({"scope": "openid", "login_hint_token": "x.y.z"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "nobody-by-that-name"}, "unknown_user_id"),
        ({"scope": "openid", "login_hint": "HINT", "binding_message": "x" * 65}, "invalid_binding_message"),
        ({"scope": "openid", "login_hint": "HINT", "binding_message": "<script>"}, "invalid_binding_message"),
        ({"scope": "openid", "login_hint": "HINT", "requested_expiry": "abc"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "requested_expiry": "0"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "requested_expiry": "-5"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "requested_expiry": "1.5"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "requested_expiry": "1801"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "acr_values": "urn:unknown"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "HINT", "request": "x.y.z"}, "invalid_request"),
    ],
)
async def test_bad_requests_get_the_spec_error(http, client, hint, data, error) -> None:
    data = {k: (hint if v == "HINT" else v) for k, v in data.items()}
    status, body, headers = await post(http, client, data)
    assert (status, body["error"]) == (400, error), body
    assert headers["Cache-Control"] == "no-store"


async def test_a_repeated_parameter_is_refused(http, client, hint) -> None:
    response = await http.post("/bc-authorize", data=f"scope=openid&login_hint={hint}&scope=openid",
                               headers={**client.basic,
                                        "Content-Type": "application/x-www-form-urlencoded"})
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_request")
    assert "repeated" in body["error_description"]


async def test_a_json_body_is_refused(http, client, hint) -> None:
    response = await http.post("/bc-authorize", json={"scope": "openid", "login_hint": hint},
                               headers=client.basic)
    assert (response.status, (await response.json())["error"]) == (400, "invalid_request")


async def test_an_oversized_body_is_refused_with_413(http, client) -> None:
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": "x" * 100_000},
                               headers=client.basic)
    assert (response.status, (await response.json())["error"]) == (413, "invalid_request")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic bm90LWEtY2xpZW50OnNlY3JldA=="},
        {"Authorization": "Basic !!!"},
        {"Authorization": "Bearer abc"},
    ],
)
async def test_client_authentication_failures_are_401_with_a_challenge(http, hint, headers) -> None:
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": hint},
                               headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "invalid_client"
    assert response.headers["WWW-Authenticate"].startswith("Basic")


async def test_a_wrong_secret_is_401(http, client, hint) -> None:
    wrong = Client(client.client_id, client.client_secret + "x")
    status, body, _ = await post(http, wrong, {"scope": "openid", "login_hint": hint})
    assert (status, body["error"]) == (401, "invalid_client")


async def test_a_client_may_use_only_its_registered_auth_method(http, client, hint) -> None:
    response = await http.post("/bc-authorize", data={
        "scope": "openid", "login_hint": hint, "client_id": client.client_id,
        "client_secret": client.client_secret})
    assert (response.status, (await response.json())["error"]) == (401, "invalid_client")


async def test_client_secret_post_works_for_a_client_registered_for_it(http, hint) -> None:
    client = await register(http, token_endpoint_auth_method="client_secret_post")
    response = await http.post("/bc-authorize", data={
        "scope": "openid", "login_hint": hint, "client_id": client.client_id,
        "client_secret": client.client_secret})
    assert response.status == 200


async def test_a_client_without_the_ciba_grant_is_unauthorized(http, hint) -> None:
    client = await register(http, grant_types=["refresh_token"], backchannel_token_delivery_mode=None)
    status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert (status, body["error"]) == (400, "unauthorized_client")


async def test_ping_and_push_clients_must_send_a_client_notification_token(http, hint) -> None:
    for mode in ("ping", "push"):
        client = await register(http, backchannel_token_delivery_mode=mode,
                                backchannel_client_notification_endpoint="http://127.0.0.1:1/cb")
        status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
        assert (status, body["error"]) == (400, "invalid_request"), mode
        status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint,
                                                    "client_notification_token": "t" * 1025})
        assert (status, body["error"]) == (400, "invalid_request"), mode
        status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint,
                                                    "client_notification_token": "rp-bearer-123"})
        assert status == 200, body
        assert ("interval" in body) == (mode == "ping")


async def test_with_the_ciba_flag_off_every_request_is_refused_with_403(http, gateway, client, hint) -> None:
    async with server_property(gateway, "featureFlags", []):
        status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert (status, body["error"]) == (403, "access_denied")
    status, _, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert status == 200


async def test_a_delivery_mode_the_server_no_longer_supports_is_refused(http, gateway, client, hint) -> None:
    async with server_property(gateway, "backchannelTokenDeliveryModesSupported", ["ping"]):
        status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert (status, body["error"]) == (400, "unauthorized_client")


async def test_one_request_writes_the_request_its_history_and_its_event_together(
        http, gateway, client, hint) -> None:
    status, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint})
    assert status == 200
    row = await gateway.rt.pool.fetchrow(
        """SELECT r.status, (SELECT count(*) FROM auth_request_history h WHERE h.auth_request_id = r.id) AS h,
                  (SELECT count(*) FROM outbox o WHERE o.auth_request_id = r.id) AS o
             FROM auth_requests r WHERE r.auth_req_id_hash = $1""",
        gateway.rt.secrets.hash(body["auth_req_id"]))
    assert dict(row) == {"status": "pending", "h": 1, "o": 1}
    # Only the hash is stored: the plain auth_req_id is nowhere in the row.
    raw = await gateway.rt.pool.fetchval(
        "SELECT row_to_json(r)::text FROM auth_requests r WHERE auth_req_id_hash = $1",
        gateway.rt.secrets.hash(body["auth_req_id"]))
    assert body["auth_req_id"] not in raw


@pytest.mark.parametrize(("length", "max_length", "status"), [
    (128, None, 200), (129, None, 400), (5000, None, 400), (20, 10, 400), (10, 10, 200)])
async def test_binding_message_length_is_bounded_whatever_the_pattern(
        http, gateway, client, hint, length, max_length, status) -> None:
    """backchannelBindingMessageMaxLength (default 128) is checked before the pattern, so an
    operator's permissive pattern cannot let 5,000 characters onto a phone's screen."""
    async with server_property(gateway, "backchannelBindingMessagePattern", r"^[\s\S]*$"):
        if max_length is None:
            answer, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint,
                                                        "binding_message": "é" * length})
        else:
            async with server_property(gateway, "backchannelBindingMessageMaxLength", max_length):
                answer, body, _ = await post(http, client, {"scope": "openid", "login_hint": hint,
                                                            "binding_message": "é" * length})
    assert answer == status, body
    if status == 400:
        assert body["error"] == "invalid_binding_message"
