"""Mutual TLS (RFC 8705) behind a TLS-terminating "proxy" that passes the client certificate in a
header (CIBA_TLS_CLIENT_CERT_HEADER): taken only from a trusted proxy, as escaped PEM or base64
DER, and for tls_client_auth only with the proxy's verdict when a verify header is configured;
a token bound through the proxy still needs the certificate at /userinfo."""

from __future__ import annotations

import base64

from tests.integration.mtls_support import BANK_DN, HEADER, VERIFY_HEADER, Caller, _claims, _escaped, _x5t
from tests.integration.mtls_support import certs as certs  # pytest fixture
from tests.integration.mtls_support import serve as serve  # pytest fixture
from tests.integration.mtls_support import tls_gateway as tls_gateway  # pytest fixture
from tests.integration.mtls_support import web_client as web_client  # pytest fixture


async def test_the_certificate_header_of_a_trusted_proxy_authenticates_and_binds(serve, web_client, certs) -> None:
    async with serve(tls_client_cert_header=HEADER, trusted_proxies=["127.0.0.1"]) as proxied:
        caller = Caller(web_client, proxied)
        # Any self-signed certificate: the proxy asked for one without verifying it (optional_no_ca).
        self_signed = await caller.register(token_endpoint_auth_method="self_signed_tls_client_auth",
                                            jwks={"keys": [certs.stranger.jwk()]})
        issued = await caller.tokens(self_signed["client_id"], headers={HEADER: _escaped(certs.stranger)})
        assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.stranger)}
        assert (await caller.userinfo(issued["access_token"], headers={HEADER: _escaped(certs.stranger)}))[0] == 200
        status, refused = await caller.userinfo(issued["access_token"])
        assert (status, refused["error"]) == (401, "invalid_token")
        status, refused = await caller.userinfo(issued["access_token"], headers={HEADER: _escaped(certs.bank)})
        assert (status, refused["error"]) == (401, "invalid_token")

        # tls_client_auth, with the certificate as base64 DER this time.
        pki_client = await caller.register(token_endpoint_auth_method="tls_client_auth",
                                           tls_client_auth_subject_dn=BANK_DN)
        issued = await caller.tokens(pki_client["client_id"],
                                     headers={HEADER: base64.b64encode(certs.bank.der).decode()})
        assert _claims(issued["access_token"])["cnf"] == {"x5t#S256": _x5t(certs.bank)}
        for header in ("", "(null)", "not a certificate"):
            status, refused = await caller.bc_authorize(pki_client["client_id"], headers={HEADER: header})
            assert (status, refused["error"]) == (401, "invalid_client"), header


async def test_the_certificate_header_from_anyone_else_is_ignored(serve, web_client, certs) -> None:
    async with serve(tls_client_cert_header=HEADER, trusted_proxies=["192.0.2.10"]) as served:
        caller = Caller(web_client, served)
        for metadata in ({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": BANK_DN},
                         {"token_endpoint_auth_method": "self_signed_tls_client_auth",
                          "jwks": {"keys": [certs.stranger.jwk()]}}):
            client = await caller.register(**metadata)
            cert = certs.bank if "tls_client_auth_subject_dn" in metadata else certs.stranger
            status, refused = await caller.bc_authorize(client["client_id"], headers={HEADER: _escaped(cert)})
            assert (status, refused["error"]) == (401, "invalid_client")


async def test_bound_tokens_need_the_certificate_at_the_resource_even_from_an_untrusted_peer(
        serve, web_client, certs) -> None:
    """A token bound through the proxy cannot be used by a caller that writes the header itself."""
    async with serve(tls_client_cert_header=HEADER, trusted_proxies=["127.0.0.1"]) as proxied:
        caller = Caller(web_client, proxied)
        client = await caller.register(token_endpoint_auth_method="tls_client_auth", tls_client_auth_subject_dn=BANK_DN)
        issued = await caller.tokens(client["client_id"], headers={HEADER: _escaped(certs.bank)})
    async with serve(tls_client_cert_header=HEADER, trusted_proxies=["192.0.2.10"]) as direct:
        status, refused = await Caller(web_client, direct).userinfo(issued["access_token"],
                                                                    headers={HEADER: _escaped(certs.bank)})
        assert (status, refused["error"]) == (401, "invalid_token")


async def test_with_a_verify_header_tls_client_auth_needs_the_proxy_to_have_verified_the_chain(
        serve, web_client, certs) -> None:
    async with serve(tls_client_cert_header=HEADER, tls_client_verify_header=VERIFY_HEADER,
                     trusted_proxies=["127.0.0.0/8"]) as proxied:
        caller = Caller(web_client, proxied)
        pki_client = await caller.register(token_endpoint_auth_method="tls_client_auth",
                                           tls_client_auth_subject_dn=BANK_DN)
        for verdict in (None, "FAILED:unable to get local issuer certificate", "NONE"):
            headers = {HEADER: _escaped(certs.bank), **({VERIFY_HEADER: verdict} if verdict else {})}
            status, refused = await caller.bc_authorize(pki_client["client_id"], headers=headers)
            assert (status, refused["error"]) == (401, "invalid_client"), verdict
        await caller.tokens(pki_client["client_id"], headers={HEADER: _escaped(certs.bank), VERIFY_HEADER: "SUCCESS"})
        # A self-signed client needs no verified chain: its key is what is checked.
        self_signed = await caller.register(token_endpoint_auth_method="self_signed_tls_client_auth",
                                            jwks={"keys": [certs.stranger.jwk()]})
        await caller.tokens(self_signed["client_id"], headers={
            HEADER: _escaped(certs.stranger), VERIFY_HEADER: "FAILED:self-signed certificate"})
