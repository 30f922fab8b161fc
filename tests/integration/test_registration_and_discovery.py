"""/register (RFC 7591 with the CIBA metadata), discovery and /jwks."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from joserfc.jwk import ECKey

from tests.support.gateway_client import CIBA_GRANT, server_property

CIBA = {"grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll"}
PUBLIC_JWKS = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}


async def test_registration_returns_credentials_and_the_metadata(http: TestClient) -> None:
    response = await http.post("/register", json={**CIBA, "client_name": "Call centre",
                                                  "token_endpoint_auth_method": "client_secret_post",
                                                  "backchannel_user_code_parameter": True})
    body = await response.json()
    assert response.status == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert body["client_id"] and len(body["client_secret"]) >= 40
    assert body["client_secret_expires_at"] == 0
    assert body["client_name"] == "Call centre"
    assert body["response_types"] == [] and body["redirect_uris"] == []
    assert body["backchannel_token_delivery_mode"] == "poll"
    assert body["backchannel_user_code_parameter"] is True


async def test_the_client_secret_is_stored_only_as_a_hash(http: TestClient, gateway) -> None:
    body = await (await http.post("/register", json=CIBA)).json()
    stored = await gateway.rt.pool.fetchval(
        "SELECT row_to_json(c)::text FROM clients c WHERE client_id = $1", body["client_id"])
    assert body["client_secret"] not in stored


@pytest.mark.parametrize(
    ("metadata", "mentions"),
    [
        ({"grant_types": [CIBA_GRANT]}, "backchannel_token_delivery_mode"),
        ({**CIBA, "backchannel_token_delivery_mode": "telepathy"}, "backchannel_token_delivery_mode"),
        ({**CIBA, "backchannel_token_delivery_mode": "ping"}, "backchannel_client_notification_endpoint"),
        ({**CIBA, "backchannel_token_delivery_mode": "push",
          "backchannel_client_notification_endpoint": "http://rp.example.com/cb"}, "https"),
        ({**CIBA, "backchannel_token_delivery_mode": "push",
          "backchannel_client_notification_endpoint": "https://rp.example.com/cb#frag"}, "fragment"),
        ({**CIBA, "grant_types": ["authorization_code"]}, "grant"),
        ({**CIBA, "response_types": ["code"]}, "response_types"),
        ({**CIBA, "token_endpoint_auth_method": "none"}, "token_endpoint_auth_method"),
        ({**CIBA, "backchannel_authentication_request_signing_alg": "none"}, "signing_alg"),
        ({**CIBA, "backchannel_authentication_request_signing_alg": "HS256"}, "signing_alg"),
        ({**CIBA, "id_token_signed_response_alg": "none"}, "id_token_signed_response_alg"),
        ({**CIBA, "jwks": {"keys": [{"kty": "nope"}]}}, "jwks"),
        ({**CIBA, "jwks": PUBLIC_JWKS, "jwks_uri": "https://rp.example.com/jwks"}, "mutually exclusive"),
        ({**CIBA, "jwks": {"keys": [ECKey.generate_key("P-256").as_dict(private=True)]}}, "public keys only"),
        ({**CIBA, "scope": "openid admin"}, "scope"),
        ({**CIBA, "scope": "email"}, "openid"),
        ({**CIBA, "client_name": 12}, "client_name"),
        ({**CIBA, "backchannel_user_code_parameter": "maybe"}, "backchannel_user_code_parameter"),
    ],
)
async def test_invalid_metadata_is_refused_with_a_description(http, metadata, mentions) -> None:
    response = await http.post("/register", json=metadata)
    body = await response.json()
    assert (response.status, body["error"]) == (400, "invalid_client_metadata"), body
    assert mentions in body["error_description"]


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"null", b'{"a": '])
async def test_a_body_that_is_not_a_json_object_is_refused(http, raw) -> None:
    response = await http.post("/register", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert (await response.json())["error"] in ("invalid_client_metadata", "invalid_request")


async def test_unknown_metadata_is_ignored(http) -> None:
    response = await http.post("/register", json={**CIBA, "favourite_colour": "teal"})
    assert response.status == 201
    assert "favourite_colour" not in await response.json()


async def test_registration_can_be_closed(http, gateway) -> None:
    async with server_property(gateway, "dynamicRegistrationEnabled", False):
        response = await http.post("/register", json=CIBA)
        discovery = await (await http.get("/.well-known/openid-configuration")).json()
    assert (response.status, (await response.json())["error"]) == (403, "access_denied")
    assert "registration_endpoint" not in discovery


async def test_a_mode_disabled_on_the_server_cannot_be_registered(http, gateway) -> None:
    async with server_property(gateway, "backchannelTokenDeliveryModesSupported", ["poll"]):
        response = await http.post("/register", json={
            **CIBA, "backchannel_token_delivery_mode": "push",
            "backchannel_client_notification_endpoint": "https://rp.example.com/cb"})
    assert (await response.json())["error"] == "invalid_client_metadata"


async def test_discovery_names_every_endpoint_and_what_is_supported(http) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    issuer = doc["issuer"]
    for key, path in [("token_endpoint", "/token"), ("jwks_uri", "/jwks"),
                      ("registration_endpoint", "/register"), ("userinfo_endpoint", "/userinfo"),
                      ("backchannel_authentication_endpoint", "/bc-authorize"),
                      ("backchannel_device_registration_endpoint", "/bc-deviceRegistration")]:
        assert doc[key] == issuer + path
    assert CIBA_GRANT in doc["grant_types_supported"] and "refresh_token" in doc["grant_types_supported"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt"]
    assert "none" not in doc["token_endpoint_auth_signing_alg_values_supported"]
    assert doc["backchannel_authentication_request_signing_alg_values_supported"] == ["PS256", "ES256", "RS256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert "openid" in doc["scopes_supported"] and "sub" in doc["claims_supported"]
    assert doc["subject_types_supported"] == ["public"]
    assert doc["response_types_supported"] == ["none"]  # see discovery.RESPONSE_TYPES_SUPPORTED


async def test_jwks_publishes_public_keys_with_kids_only(http) -> None:
    jwks = await (await http.get("/jwks")).json()
    assert {key["kty"] for key in jwks["keys"]} == {"RSA", "EC"}
    for key in jwks["keys"]:
        assert key["kid"] and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


async def test_private_keys_are_stored_encrypted(gateway) -> None:
    rows = await gateway.rt.pool.fetch("SELECT private_key_enc FROM signing_keys")
    assert rows and all("PRIVATE KEY" not in row["private_key_enc"] for row in rows)


@pytest.mark.parametrize(("method", "path"), [("GET", "/token"), ("GET", "/bc-authorize"),
                                              ("POST", "/jwks"), ("GET", "/nowhere")])
async def test_wrong_method_or_path_answers_json_not_a_stack_trace(http, method, path) -> None:
    response = await http.request(method, path)
    assert response.status in (404, 405)
    assert "error" in await response.json()


async def test_a_callback_into_a_private_network_is_refused_unless_the_operator_allows_it(http, gateway) -> None:
    metadata = {**CIBA, "backchannel_token_delivery_mode": "ping",
                "backchannel_client_notification_endpoint": "https://10.1.2.3/cb"}
    refused = await http.post("/register", json=metadata)
    assert (await refused.json())["error"] == "invalid_client_metadata"
    async with server_property(gateway, "notificationEndpointAllowPrivateNetworks", True):
        allowed = await http.post("/register", json=metadata)
    assert allowed.status == 201
