"""Shared by the mutual TLS tests (test_mtls_*.py): a throwaway PKI and the client certificates
they present (CA-issued with a subject DN and SANs, self-signed in the gateway's client CA bundle
or in none), a gateway served with given settings on 127.0.0.1 (terminating TLS itself, or
behind a "proxy" passing the certificate in a header), and a caller of that gateway with a
certificate of its choice."""

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
from tests.support.gateway_client import CIBA_GRANT, add_user, decide
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
