"""Mutual TLS (RFC 8705) in the metadata: discovery lists tls_client_auth,
self_signed_tls_client_auth, certificate-bound tokens and the mtls_endpoint_aliases (3.3, 5)
only when the gateway asks for client certificates; registration checks and keeps the mTLS
client metadata (2.1.2), and a client the operator adds with it authenticates with its
certificate."""

from __future__ import annotations

import json

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.integration.mtls_support import BANK_DN, Caller
from tests.integration.mtls_support import certs as certs  # pytest fixture
from tests.integration.mtls_support import serve as serve  # pytest fixture
from tests.integration.mtls_support import tls_gateway as tls_gateway  # pytest fixture
from tests.integration.mtls_support import web_client as web_client  # pytest fixture
from tests.support.admin_cli import admin_json
from tests.support.gateway_client import CIBA_GRANT

# Discovery (RFC 8705 3.3, 5) and registration (2.1.2)


async def test_discovery_lists_mtls_with_its_endpoint_aliases(tls_gateway, serve, web_client, monkeypatch) -> None:
    status, doc = await Caller(web_client, tls_gateway).call("GET", "/.well-known/openid-configuration")
    assert status == 200
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test issuer is http (see test_metadata_interop)
    OpenIDProviderMetadata(doc).validate()
    AuthorizationServerMetadata(doc).validate()
    for key in ("token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported",
                "revocation_endpoint_auth_methods_supported"):
        assert {"tls_client_auth", "self_signed_tls_client_auth"} <= set(doc[key]), key
    assert doc["tls_client_certificate_bound_access_tokens"] is True
    assert doc["mtls_endpoint_aliases"] == {
        key: doc[key] for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint",
                                  "userinfo_endpoint", "backchannel_authentication_endpoint")}

    async with serve(mtls_endpoint_base="https://mtls.example.com") as served:
        status, doc = await Caller(web_client, served).call("GET", "/.well-known/openid-configuration")
    assert doc["mtls_endpoint_aliases"] == {
        "token_endpoint": "https://mtls.example.com/token", "revocation_endpoint": "https://mtls.example.com/revoke",
        "introspection_endpoint": "https://mtls.example.com/introspect",
        "userinfo_endpoint": "https://mtls.example.com/userinfo",
        "backchannel_authentication_endpoint": "https://mtls.example.com/bc-authorize"}
    assert doc["token_endpoint"] == doc["issuer"] + "/token"


async def test_without_mtls_discovery_leaves_it_out(http) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    assert "tls_client_auth" not in doc["token_endpoint_auth_methods_supported"]
    assert "mtls_endpoint_aliases" not in doc and "tls_client_certificate_bound_access_tokens" not in doc


@pytest.mark.parametrize(("metadata", "reason"), [
    ({"token_endpoint_auth_method": "tls_client_auth"}, "exactly one of"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": BANK_DN,
      "tls_client_auth_san_dns": "client.bank.example"}, "exactly one of"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "/C=GB/CN=bank"},
     "RFC 4514"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_ip": "10.0.0"}, "IPv4 or IPv6"),
    ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": ""}, "tls_client_auth_san_dns"),
    ({"token_endpoint_auth_method": "self_signed_tls_client_auth"}, "needs jwks or jwks_uri"),
    ({"tls_client_certificate_bound_access_tokens": True, "backchannel_token_delivery_mode": "push",
      "backchannel_client_notification_endpoint": "https://rp.example.com/cb"}, "push"),
])
async def test_registration_checks_the_mtls_metadata(http, metadata, reason) -> None:
    body = {"backchannel_token_delivery_mode": "poll", "grant_types": [CIBA_GRANT], **metadata}
    answer = await http.post("/register", json=body)
    refused = await answer.json()
    assert (answer.status, refused["error"]) == (400, "invalid_client_metadata")
    assert reason in refused["error_description"]


async def test_registration_keeps_the_mtls_metadata(http) -> None:
    answer = await http.post("/register", json={
        "backchannel_token_delivery_mode": "poll", "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_san_uri": "https://bank.example/client", "tls_client_certificate_bound_access_tokens": True})
    registered = await answer.json()
    assert answer.status == 201, registered
    assert (registered["token_endpoint_auth_method"], registered["tls_client_auth_san_uri"],
            registered["tls_client_certificate_bound_access_tokens"]) == (
        "tls_client_auth", "https://bank.example/client", True)


async def test_a_client_added_by_the_operator_authenticates_with_its_certificate(
        settings, tls_gateway, web_client, certs, tmp_path) -> None:
    metadata = tmp_path / "bank.json"
    metadata.write_text(json.dumps({"backchannel_token_delivery_mode": "poll",
                                    "token_endpoint_auth_method": "tls_client_auth",
                                    "tls_client_auth_subject_dn": BANK_DN}))
    added = admin_json(settings, "client", "add", "--metadata", str(metadata))
    assert added["tls_client_auth_subject_dn"] == BANK_DN
    await Caller(web_client, tls_gateway).tokens(added["client_id"], cert=certs.bank)
