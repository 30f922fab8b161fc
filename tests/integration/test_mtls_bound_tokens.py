"""Certificate-bound access tokens (RFC 8705 3) for a client that authenticates otherwise (a
client secret, and tls_client_certificate_bound_access_tokens registered), and the FAPI-CIBA
profile's whole poll flow over real mutual TLS: a signed request, a certificate-bound access
token, a PS256 id_token, /userinfo only with the certificate."""

from __future__ import annotations

import base64
import json

from tests.integration.mtls_support import Caller, _claims, _x5t
from tests.integration.mtls_support import certs as certs  # pytest fixture
from tests.integration.mtls_support import serve as serve  # pytest fixture
from tests.integration.mtls_support import tls_gateway as tls_gateway  # pytest fixture
from tests.integration.mtls_support import web_client as web_client  # pytest fixture
from tests.support.gateway_client import CIBA_GRANT, add_user, decide, server_property
from tests.support.jwt_client import ClientSigner, request_claims

# Certificate-bound tokens for a client that authenticates otherwise (RFC 8705 3)


async def test_a_secret_client_that_registered_bound_tokens_gets_them_and_needs_its_certificate(
        tls_gateway, web_client, certs) -> None:
    caller = Caller(web_client, tls_gateway)
    client = await caller.register(tls_client_certificate_bound_access_tokens=True)
    basic = {"Authorization": "Basic " + base64.b64encode(
        f"{client['client_id']}:{client['client_secret']}".encode()).decode()}
    issued = await caller.tokens(client["client_id"], cert=certs.other, headers=basic)
    assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.other)}
    assert (await caller.userinfo(issued["access_token"], cert=certs.other))[0] == 200
    assert (await caller.userinfo(issued["access_token"], cert=certs.bank))[0] == 401

    # Without a certificate at /token: refused rather than given a bearer token.
    status, started = await caller.bc_authorize(client["client_id"], headers=basic)
    await decide(tls_gateway.gw, started["auth_req_id"], approved=True)
    status, refused = await caller.call("POST", "/token", headers=basic, data={
        "grant_type": CIBA_GRANT, "auth_req_id": started["auth_req_id"]})
    assert (status, refused["error"]) == (400, "invalid_request")

    # A client that did not ask gets bearer tokens, certificate or not.
    plain = await caller.register()
    plain_basic = {"Authorization": "Basic " + base64.b64encode(
        f"{plain['client_id']}:{plain['client_secret']}".encode()).decode()}
    issued = await caller.tokens(plain["client_id"], cert=certs.other, headers=plain_basic)
    assert "cnf" not in _claims(issued["access_token"])
    assert (await caller.userinfo(issued["access_token"]))[0] == 200


async def test_a_fapi_ciba_client_with_tls_client_auth_signed_requests_and_bound_tokens(
        tls_gateway, web_client, certs) -> None:
    """The FAPI-CIBA profile's whole poll flow over real mutual TLS, as in the README's
    walk-through: a signed request (ES256) with a binding message, a certificate-bound access
    token, a PS256 id_token, /userinfo only with the certificate."""
    caller = Caller(web_client, tls_gateway)
    signer = ClientSigner("ES256")
    gw = tls_gateway.gw
    async with server_property(gw, "fapiCibaProfile", True):
        client = await caller.register(token_endpoint_auth_method="tls_client_auth",
                                       tls_client_auth_subject_dn="CN=bank-client,O=Example Bank,C=GB",
                                       jwks=signer.jwks, backchannel_authentication_request_signing_alg="ES256")
        assert client["id_token_signed_response_alg"] == "PS256"
        user = await add_user(gw)
        claims = request_claims(client["client_id"], gw.issuer, now=gw.rt.clock.now().timestamp(),
                                login_hint=user.username, scope="openid email", binding_message="Pay 42 EUR")
        unsigned_form = {"client_id": client["client_id"], "scope": "openid", "login_hint": user.username,
                         "binding_message": "Pay 42 EUR"}
        status, refused = await caller.call("POST", "/bc-authorize", cert=certs.bank, data=unsigned_form)
        assert (status, refused["error"]) == (400, "invalid_request")
        status, started = await caller.call("POST", "/bc-authorize", cert=certs.bank,
                                            data={"client_id": client["client_id"], "request": signer.sign(claims)})
        assert status == 200, started
        await decide(gw, started["auth_req_id"], approved=True)
        status, issued = await caller.call("POST", "/token", cert=certs.bank, data={
            "grant_type": CIBA_GRANT, "client_id": client["client_id"], "auth_req_id": started["auth_req_id"]})
        assert status == 200, issued
    assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.bank)}
    header = issued["id_token"].split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["alg"] == "PS256"
    assert (await caller.userinfo(issued["access_token"], cert=certs.bank))[0] == 200
    assert (await caller.userinfo(issued["access_token"]))[0] == 401
