"""Mutual TLS (RFC 8705) over real TLS: the gateway terminates TLS on 127.0.0.1 with a client
CA (CIBA_HTTP_TLS_CLIENT_CA), or sits behind a "proxy" that passes the certificate in a header
(CIBA_TLS_CLIENT_CERT_HEADER). Clients register, start requests at /bc-authorize, are approved,
and take their tokens at /token, authenticated by tls_client_auth (subject DN, SAN) or
self_signed_tls_client_auth (a key in their jwks); the tokens are bound to the certificate
(cnf.x5t#S256), which /userinfo checks and introspection reports."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata
from cryptography import x509
from cryptography.x509.oid import NameOID

from services.gateway import tls
from services.gateway.__main__ import build_gateway
from services.gateway.app import create_app
from services.gateway.context import Gateway
from shared.clock import FrozenClock
from shared.runtime import open_runtime
from shared.settings import Settings
from tests.support import tls as support_tls
from tests.support.admin_cli import admin_json
from tests.support.gateway_client import CIBA_GRANT, add_user, decide, server_property
from tests.support.jwt_client import ClientSigner, request_claims
from tests.support.tls import ClientCert, client_cert, make_pki

HEADER = "X-SSL-Client-Cert"
VERIFY_HEADER = "X-SSL-Client-Verify"
BANK_DN = "CN=bank-client,O=Example Bank,C=GB"


def _name(**attributes: str) -> x509.Name:
    oids = {"CN": NameOID.COMMON_NAME, "O": NameOID.ORGANIZATION_NAME, "C": NameOID.COUNTRY_NAME}
    return x509.Name([x509.NameAttribute(oids[key], value) for key, value in attributes.items()])


@dataclass(frozen=True)
class Certs:
    pki: support_tls.TestPKI
    bundle: Path  # the gateway's CIBA_HTTP_TLS_CLIENT_CA: the CA, and one self-signed client's certificate
    bank: ClientCert  # CA-issued, BANK_DN, SAN dns client.bank.example
    other: ClientCert  # CA-issued, another subject
    self_signed: ClientCert  # self-signed, in the bundle
    stranger: ClientCert  # self-signed, in no bundle


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    directory = tmp_path_factory.mktemp("mtls")
    pki = make_pki(directory)
    bank = client_cert(pki, directory, "bank", _name(C="GB", O="Example Bank", CN="bank-client"),
                       sans=[x509.DNSName("client.bank.example"),
                             x509.IPAddress(ipaddress.ip_address("2001:db8::7")),
                             x509.UniformResourceIdentifier("https://bank.example/client"),
                             x509.RFC822Name("ops@Bank.Example")])
    other = client_cert(pki, directory, "other", _name(C="GB", O="Example Bank", CN="other-client"),
                        sans=[x509.DNSName("other.bank.example")])
    self_signed = client_cert(pki, directory, "self", _name(CN="self-signed client"), self_signed=True)
    stranger = client_cert(pki, directory, "stranger", _name(CN="bank-client"), self_signed=True)
    bundle = directory / "client-ca.pem"
    bundle.write_text(pki.ca_file.read_text() + self_signed.pem)
    return Certs(pki, bundle, bank, other, self_signed, stranger)


@dataclass
class Served:
    gw: Gateway
    base: str
    ca_file: Path

    def context(self, cert: ClientCert | None) -> ssl.SSLContext | bool:
        if not self.base.startswith("https"):
            return False
        if cert is None:
            return ssl.create_default_context(cafile=self.ca_file)
        return cert.context(self.ca_file)


Serve = Callable[..., AbstractAsyncContextManager[Served]]


@pytest.fixture
def serve(settings: Settings, certs: Certs, clock: FrozenClock) -> Serve:
    """Start a gateway with these settings on 127.0.0.1 (the way ciba-gateway listens)."""

    @asynccontextmanager
    async def running(**overrides: Any) -> AsyncIterator[Served]:
        configured = settings.model_copy(update=overrides)
        async with open_runtime(configured, "gateway", clock=clock) as rt:
            gw = await build_gateway(rt)
            runner = web.AppRunner(create_app(gw), access_log=None)
            await runner.setup()
            context = tls.server_context(configured)
            site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            try:
                yield Served(gw, f"{'https' if context else 'http'}://127.0.0.1:{port}", certs.pki.ca_file)
            finally:
                await runner.cleanup()
                await gw.close()

    return running


@pytest.fixture
async def tls_gateway(serve: Serve, certs: Certs) -> AsyncIterator[Served]:
    """The gateway terminating TLS itself, asking for client certificates."""
    async with serve(http_tls_cert=str(certs.pki.cert_file), http_tls_key=str(certs.pki.key_file),
                     http_tls_client_ca=str(certs.bundle)) as served:
        yield served


@pytest.fixture
async def web_client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Caller:
    """A client of one gateway: each call with the given certificate (or none) and headers."""

    def __init__(self, session: aiohttp.ClientSession, served: Served) -> None:
        self.session, self.served = session, served

    async def call(self, method: str, path: str, *, cert: ClientCert | None = None,
                   headers: dict[str, str] | None = None, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.served.base + path, ssl=self.served.context(cert),
                                        headers=headers or {}, **kwargs) as answer:
            body = await answer.json() if answer.content_type == "application/json" else await answer.text()
            return answer.status, body

    async def register(self, **metadata: Any) -> dict[str, Any]:
        body = {"backchannel_token_delivery_mode": "poll", "grant_types": [CIBA_GRANT, "refresh_token"], **metadata}
        status, answer = await self.call("POST", "/register", json=body)
        assert status == 201, answer
        return answer

    async def bc_authorize(self, client_id: str, **kwargs: Any) -> tuple[int, Any]:
        user = await add_user(self.served.gw)
        return await self.call("POST", "/bc-authorize", data={"scope": "openid email", "login_hint": user.username,
                                                              "client_id": client_id}, **kwargs)

    async def tokens(self, client_id: str, **kwargs: Any) -> dict[str, Any]:
        """A whole poll flow, approved at once: the /token answer."""
        status, started = await self.bc_authorize(client_id, **kwargs)
        assert status == 200, started
        await decide(self.served.gw, started["auth_req_id"], approved=True)
        status, issued = await self.call("POST", "/token", data={"grant_type": CIBA_GRANT, "client_id": client_id,
                                                                  "auth_req_id": started["auth_req_id"]}, **kwargs)
        assert status == 200, issued
        return issued

    async def userinfo(self, access_token: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {access_token}", **kwargs.pop("headers", {})}
        return await self.call("GET", "/userinfo", headers=headers, **kwargs)


def _claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _x5t(cert: ClientCert) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(cert.der).digest()).rstrip(b"=").decode()


def _escaped(cert: ClientCert) -> str:
    """What nginx's $ssl_client_escaped_cert holds: the PEM, URL-encoded."""
    return quote(cert.pem, safe="")


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


# Behind a TLS-terminating proxy (CIBA_TLS_CLIENT_CERT_HEADER)


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
