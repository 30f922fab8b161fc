"""Mutual TLS (RFC 8705) client authentication where the gateway terminates TLS on 127.0.0.1 with a
client CA (CIBA_HTTP_TLS_CLIENT_CA): clients register, start requests at /bc-authorize, are
approved, and take their tokens at /token, authenticated by tls_client_auth (subject DN, SAN) or
self_signed_tls_client_auth (a key in their jwks or at their jwks_uri); the tokens are bound to
the certificate (cnf.x5t#S256), which /userinfo checks and introspection reports."""

from __future__ import annotations

import aiohttp
import pytest

from tests.integration.mtls_support import BANK_DN, Caller, _claims, _x5t
from tests.integration.mtls_support import certs as certs  # pytest fixture
from tests.integration.mtls_support import serve as serve  # pytest fixture
from tests.integration.mtls_support import tls_gateway as tls_gateway  # pytest fixture
from tests.integration.mtls_support import web_client as web_client  # pytest fixture
from tests.support.gateway_client import CIBA_GRANT

# tls_client_auth (RFC 8705 2.1)


async def test_tls_client_auth_by_subject_dn_binds_the_tokens_to_the_certificate(
        tls_gateway, web_client, certs) -> None:
    caller = Caller(web_client, tls_gateway)
    # Written with other spacing and case than the certificate's: DNs compare as parsed names.
    client = await caller.register(token_endpoint_auth_method="tls_client_auth",
                                   tls_client_auth_subject_dn="cn=Bank-Client, o=Example Bank, c=GB")
    issued = await caller.tokens(client["client_id"], cert=certs.bank)
    assert issued["token_type"] == "Bearer"
    assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.bank)}

    # /userinfo: the same certificate, or 401 invalid_token.
    status, claims = await caller.userinfo(issued["access_token"], cert=certs.bank)
    assert status == 200 and claims["sub"]
    for cert in (None, certs.other):
        status, refused = await caller.userinfo(issued["access_token"], cert=cert)
        assert (status, refused["error"]) == (401, "invalid_token"), cert

    # Introspection (the client authenticates with its certificate there too) reports the binding.
    status, described = await caller.call("POST", "/introspect", cert=certs.bank,
                                          data={"client_id": client["client_id"], "token": issued["access_token"]})
    assert status == 200 and described["active"] is True
    assert described["cnf"] == {"x5t#S256": _x5t(certs.bank)}

    # The refresh grant: the new access token is bound to the certificate presented then.
    status, refreshed = await caller.call("POST", "/token", cert=certs.bank, data={
        "grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "client_id": client["client_id"]})
    assert status == 200, refreshed
    assert _claims(refreshed["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.bank)}


@pytest.mark.parametrize(("field", "value"), [
    ("tls_client_auth_san_dns", "CLIENT.bank.example"),
    ("tls_client_auth_san_ip", "2001:db8:0::7"),
    ("tls_client_auth_san_uri", "https://bank.example/client"),
    ("tls_client_auth_san_email", "ops@bank.example"),
])
async def test_tls_client_auth_by_subject_alternative_name(tls_gateway, web_client, certs, field, value) -> None:
    caller = Caller(web_client, tls_gateway)
    client = await caller.register(token_endpoint_auth_method="tls_client_auth", **{field: value})
    issued = await caller.tokens(client["client_id"], cert=certs.bank)
    assert _claims(issued["access_token"])["cnf"]["x5t#S256"] == _x5t(certs.bank)


async def test_tls_client_auth_refuses_another_subject_no_certificate_and_a_self_signed_lookalike(
        tls_gateway, web_client, certs) -> None:
    caller = Caller(web_client, tls_gateway)
    by_dn = await caller.register(token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=BANK_DN)
    by_san = await caller.register(token_endpoint_auth_method="tls_client_auth",
                                   tls_client_auth_san_dns="client.bank.example")
    for client, cert in [(by_dn, certs.other), (by_dn, None), (by_san, certs.other), (by_san, None),
                         (by_dn, certs.self_signed)]:
        status, refused = await caller.bc_authorize(client["client_id"], cert=cert)
        assert (status, refused["error"]) == (401, "invalid_client"), cert
        status, refused = await caller.call("POST", "/token", cert=cert, data={
            "grant_type": CIBA_GRANT, "client_id": client["client_id"], "auth_req_id": "x"})
        assert (status, refused["error"]) == (401, "invalid_client"), cert
    # The certificate alone, or with the client_id of a client that uses another method, is no credential.
    secret_client = await caller.register()
    status, refused = await caller.bc_authorize(secret_client["client_id"], cert=certs.bank)
    assert (status, refused["error"]) == (401, "invalid_client")
    status, refused = await caller.call("POST", "/token", cert=certs.bank, data={"grant_type": CIBA_GRANT,
                                                                               "auth_req_id": "x"})
    assert (status, refused["error"]) == (401, "invalid_client")


# self_signed_tls_client_auth (RFC 8705 2.2)


async def test_self_signed_tls_client_auth_with_a_key_of_the_registered_jwks(tls_gateway, web_client, certs) -> None:
    """In-process, a self-signed certificate gets through the handshake only when the operator
    put it in CIBA_HTTP_TLS_CLIENT_CA (Python's ssl cannot ask for a certificate without
    verifying it); the header mode below takes any."""
    caller = Caller(web_client, tls_gateway)
    client = await caller.register(token_endpoint_auth_method="self_signed_tls_client_auth",
                                   jwks={"keys": [certs.self_signed.jwk()]})
    issued = await caller.tokens(client["client_id"], cert=certs.self_signed)
    assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.self_signed)}
    assert (await caller.userinfo(issued["access_token"], cert=certs.self_signed))[0] == 200

    # A certificate whose key is not registered: the TLS layer accepts it (CA-issued), the client check does not.
    status, refused = await caller.bc_authorize(client["client_id"], cert=certs.bank)
    assert (status, refused["error"]) == (401, "invalid_client")


async def test_self_signed_tls_client_auth_with_a_jwks_uri(tls_gateway, web_client, certs, jwks_server) -> None:
    jwks_server.document = {"keys": [certs.self_signed.jwk()]}
    caller = Caller(web_client, tls_gateway)
    client = await caller.register(token_endpoint_auth_method="self_signed_tls_client_auth",
                                   jwks_uri=jwks_server.url)
    await caller.tokens(client["client_id"], cert=certs.self_signed)


async def test_an_unknown_self_signed_certificate_ends_the_handshake_of_the_own_listener(
        tls_gateway, web_client, certs) -> None:
    with pytest.raises(aiohttp.ClientError):
        await Caller(web_client, tls_gateway).call("GET", "/.well-known/openid-configuration", cert=certs.stranger)
