"""/bc-authorize: every rule of CIBA Core 7.1 this server enforces, with the exact error and
status of section 13, driven over HTTP against the real database."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp.test_utils import TestClient

from services.gateway.context import Gateway
from shared.repositories import auth_requests
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


async def test_requests_arriving_together_are_each_stored_and_answered(http, gateway, client) -> None:
    """Concurrent requests share one statement (the batchers of PostgresNewRequests and
    PostgresUsers, services/gateway/stores); each still gets its own auth_req_id, for its own
    user, with its own event."""
    people = [await add_user(gateway) for _ in range(8)]
    answers = await asyncio.gather(*(post(http, client, {"scope": "openid", "login_hint": person.username})
                                     for person in people))
    assert [status for status, _, _ in answers] == [200] * 8
    for person, (_, body, _) in zip(people, answers, strict=True):
        stored = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(body["auth_req_id"]))
        assert stored is not None and stored.sub == person.sub
        events = await gateway.rt.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE auth_request_id = $1 AND routing_key = 'auth_request.created'",
            stored.id)
        assert events == 1
    unknown = await asyncio.gather(post(http, client, {"scope": "openid", "login_hint": "nobody-at-all"}),
                                   post(http, client, {"scope": "openid", "login_hint": people[0].username}))
    assert [(status, body.get("error")) for status, body, _ in unknown] == [(400, "unknown_user_id"), (200, None)]


async def test_a_request_whose_client_vanished_fails_alone_in_its_batch(gateway) -> None:
    """One bad request in a shared statement is retried alone; the others are stored."""
    from datetime import timedelta
    from uuid import uuid4

    from shared.domain import lifecycle
    from shared.domain.auth_request import AuthRequest

    user = await add_user(gateway)
    now = gateway.rt.clock.now()
    client_id = (await gateway.rt.pool.fetchval("SELECT client_id FROM clients LIMIT 1"))

    def request(client: str) -> AuthRequest:
        return AuthRequest(id=uuid4(), auth_req_id_hash=uuid4().bytes, auth_req_id_enc="x", client_id=client,
                           sub=user.sub, delivery_mode="poll", scope=["openid"], acr_values=None,
                           binding_message=None, client_notification_token_enc=None, status="pending",
                           interval_sec=5, created_at=now, expires_at=now + timedelta(minutes=5),
                           decided_at=None, auth_time=None, acr=None, failure_reason=None, tokens_issued_at=None)

    good, orphan = request(client_id), request("no-such-client")
    outcomes = await lifecycle.create_many(gateway.rt.pool, [good, orphan], service="test")
    assert outcomes[0] is None and outcomes[1] is not None
    assert await auth_requests.get(gateway.rt.pool, good.id) is not None
    assert await auth_requests.get(gateway.rt.pool, orphan.id) is None
