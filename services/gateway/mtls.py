"""Mutual TLS (RFC 8705): the client certificate of a request, client authentication with it
(``tls_client_auth``, ``self_signed_tls_client_auth``), access tokens bound to it
(``cnf.x5t#S256``), and what discovery says about it.

Where a request's certificate comes from:

- the gateway's own TLS listener with CIBA_HTTP_TLS_CLIENT_CA (services/gateway/tls.py): the
  certificate the client presented in the handshake, which the handshake verified against
  that bundle (an unverifiable one ends the handshake);
- behind a TLS-terminating proxy, CIBA_TLS_CLIENT_CERT_HEADER: the certificate the proxy
  passes on (URL-encoded PEM, like nginx's ``$ssl_client_escaped_cert``, or base64 DER). The
  header is read only when the TCP peer is one of CIBA_TRUSTED_PROXIES, and from such a peer
  only the header counts (never the proxy's own certificate); from anyone else it is ignored,
  so it can never authenticate. With CIBA_TLS_CLIENT_VERIFY_HEADER the proxy also says whether
  it verified the chain (``SUCCESS``, nginx's ``$ssl_client_verify``); without it, every
  certificate the proxy passes counts as verified, so that proxy must refuse unverifiable ones
  (nginx ``ssl_verify_client optional``, not ``optional_no_ca``).

``tls_client_auth`` needs a chain-verified, CA-issued certificate with the identity the client
registered (shared/domain/client_certificates.py); ``self_signed_tls_client_auth`` a
certificate whose public key is one of the client's registered keys (``jwks`` or
``jwks_uri``); no chain is needed, the handshake proved the client holds the private key.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from services.gateway.client_address import Network, from_trusted_proxy
from services.gateway.client_keys import ClientKeysUnavailable, KeySource
from shared.domain import client_certificates
from shared.domain.client_certificates import THUMBPRINT
from shared.domain.client_metadata import MTLS_AUTH_METHODS
from shared.domain.token_issuance import Binding
from shared.errors import Errors, InvalidClient, InvalidRequest, InvalidToken
from shared.logging import get_logger
from shared.repositories.clients import Client
from shared.settings import Settings

log = get_logger("ciba.gateway")

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.DOTALL)
# What proxies write when there was no certificate (nginx: empty; others: "(null)", "-").
_NO_CERTIFICATE = ("", "(null)", "-")
VERIFIED = "SUCCESS"
BOUND_TOKENS = "tls_client_certificate_bound_access_tokens"
ERRORS: Errors = (InvalidClient, InvalidRequest, InvalidToken)


@dataclass(frozen=True)
class ClientCertificate:
    der: bytes
    certificate: x509.Certificate
    # Chained to a trusted CA: by the TLS handshake (CIBA_HTTP_TLS_CLIENT_CA) or by the proxy.
    chain_verified: bool
    via: str  # "tls" or "proxy"

    @cached_property
    def thumbprint(self) -> str:
        return client_certificates.thumbprint(self.der)


_REQUEST_KEY: web.RequestKey[ClientCertificate | None] = web.RequestKey("ciba_client_certificate")


def certificate_from_header(value: str) -> bytes | None:
    """The DER certificate of a proxy's header: URL-encoded (or plain) PEM, or base64 DER
    (standard or url-safe alphabet, padding optional). None when it says there is none;
    ValueError when it is not a certificate."""
    text = unquote(value.strip()).strip()
    if text in _NO_CERTIFICATE:
        return None
    pem = _PEM.search(text)
    if "-----BEGIN" in text and pem is None:
        raise ValueError("not a PEM certificate")
    body = "".join((pem.group(1) if pem else text).split())
    if "-" in body or "_" in body:
        body = body.replace("-", "+").replace("_", "/")
    try:
        der = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:
        raise ValueError("not base64") from None
    x509.load_der_x509_certificate(der)  # ValueError when it is not a certificate
    return der


@dataclass(frozen=True)
class CertificateSource:
    """Where a request's client certificate comes from: this listener's TLS handshake, or a
    header set by one of the operator's proxies (CIBA_TLS_CLIENT_CERT_HEADER,
    CIBA_TLS_CLIENT_VERIFY_HEADER, CIBA_TRUSTED_PROXIES)."""

    header: str | None = None
    verify_header: str | None = None
    trusted_proxies: tuple[Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> CertificateSource:
        return cls(settings.tls_client_cert_header, settings.tls_client_verify_header,
                   tuple(settings.trusted_proxy_networks))


def client_certificate(request: web.Request, source: CertificateSource) -> ClientCertificate | None:
    """The client certificate of this request (read once per request), or None."""
    if _REQUEST_KEY not in request:
        request[_REQUEST_KEY] = _find(request, source)
    return request[_REQUEST_KEY]


def _find(request: web.Request, source: CertificateSource) -> ClientCertificate | None:
    if source.header is not None and from_trusted_proxy(request, source.trusted_proxies):
        return _from_proxy(request, source, source.header)
    return _from_handshake(request)


def _from_handshake(request: web.Request) -> ClientCertificate | None:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as exc:  # OpenSSL took it, the stricter parser does not
        log.warning("client_certificate_refused", via="tls", reason=str(exc)[:200])
        return None
    # The listener asks for certificates only with CERT_OPTIONAL, which verified this one.
    return ClientCertificate(der, certificate, chain_verified=True, via="tls")


def _from_proxy(request: web.Request, source: CertificateSource, header: str) -> ClientCertificate | None:
    values = request.headers.getall(header, [])
    if not values:
        return None
    if len(values) > 1:
        log.warning("client_certificate_header_refused", header=header, reason="sent more than once")
        return None
    try:
        der = certificate_from_header(values[0])
    except ValueError as exc:
        log.warning("client_certificate_header_refused", header=header, reason=str(exc)[:200])
        return None
    if der is None:
        return None
    verified = True
    if source.verify_header is not None:
        verified = request.headers.get(source.verify_header, "").strip() == VERIFIED
    return ClientCertificate(der, x509.load_der_x509_certificate(der), chain_verified=verified, via="proxy")


# Client authentication (RFC 8705 2).


async def authenticate(request: web.Request, client: Client, *, source: CertificateSource, now: datetime,
                       keys: KeySource) -> Client:
    """``client`` (which registered tls_client_auth or self_signed_tls_client_auth) when this
    request's certificate authenticates it; InvalidClient, with the reason, otherwise."""
    presented = client_certificate(request, source)
    if presented is None:
        raise InvalidClient("no client certificate was presented")
    certificate = presented.certificate
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise InvalidClient("the client certificate is expired or not yet valid")
    if client.token_endpoint_auth_method == "tls_client_auth":
        _check_pki(client, presented)
    else:
        await _check_registered_key(keys, client, presented)
    return client


def _check_pki(client: Client, presented: ClientCertificate) -> None:
    """RFC 8705 2.1: a chain to a trusted CA, and the subject the client registered."""
    if not presented.chain_verified:
        raise InvalidClient("the client certificate was not verified against a trusted CA")
    if client_certificates.is_self_signed(presented.certificate):
        # A self-signed certificate is its own CA: only the bundle could have made it trusted,
        # and it must not stand in for a CA-issued one.
        raise InvalidClient("tls_client_auth needs a CA-issued certificate, not a self-signed one")
    identity = client_certificates.registered_identity(client.metadata)
    if identity is None:
        raise InvalidClient("the client registered no tls_client_auth identity")
    if not client_certificates.identity_matches(presented.certificate, *identity):
        raise InvalidClient(f"the client certificate does not carry the registered {identity[0]}")


def _public_key_der(key: Any) -> bytes | None:
    public: Any = getattr(key, "public_key", None)
    if not hasattr(public, "public_bytes"):
        return None  # a symmetric key
    der: bytes = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


async def _check_registered_key(keys: KeySource, client: Client, presented: ClientCertificate) -> None:
    """RFC 8705 2.2: the certificate's key is one of the client's (a jwks_uri is fetched again
    once, rate-limited, so a client can roll its certificate over)."""
    try:
        wanted = client_certificates.public_key_der(presented.certificate)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidClient("the client certificate's key is of a kind this server does not read") from None
    for refresh in (False, True):
        try:
            registered = await keys.keys(client, refresh=refresh)
        except ClientKeysUnavailable as exc:
            raise InvalidClient(f"the client's keys are unavailable: {exc}") from None
        if any(_public_key_der(key) == wanted for key in registered.keys):
            return
        if client.jwks is not None:
            break  # registered inline: nothing to fetch again
    raise InvalidClient("the client certificate's key is not one of the client's registered keys")


# Certificate-bound access tokens (RFC 8705 3).


def binding_at_token(request: web.Request, source: CertificateSource, client: Client) -> Binding | None:
    """At /token (both grants): the tokens are bound to the certificate of this connection
    when the client registered tls_client_certificate_bound_access_tokens or authenticated
    with its certificate. A client that registered for bound tokens and presents no
    certificate is refused rather than given a bearer token. Refresh tokens are not bound
    (RFC 8705 3: a confidential client's refresh token is already tied to its authentication);
    each access token is bound to the certificate presented when it is issued, so a client
    that renews its certificate gets its next access token bound to the new one."""
    wants = client.metadata.get(BOUND_TOKENS) is True
    if not wants and client.token_endpoint_auth_method not in MTLS_AUTH_METHODS:
        return None
    presented = client_certificate(request, source)
    if presented is None:
        if wants:
            raise InvalidRequest(f"the client registered {BOUND_TOKENS}: present its certificate")
        return None
    return Binding(cnf={THUMBPRINT: presented.thumbprint})


def check_presenter(request: web.Request, source: CertificateSource, expected: str) -> None:
    """At a resource: the certificate of this request must be the one the token is bound to."""
    presented = client_certificate(request, source)
    if presented is None:
        raise InvalidToken("the access token is bound to a client certificate: present it")
    if not hmac.compare_digest(presented.thumbprint.encode(), str(expected).encode()):
        raise InvalidToken("the access token is bound to another client certificate")


# Discovery (RFC 8705 3.3 and 5).

ALIASED = (("token_endpoint", "/token"), ("revocation_endpoint", "/revoke"),
           ("introspection_endpoint", "/introspect"), ("userinfo_endpoint", "/userinfo"),
           ("backchannel_authentication_endpoint", "/bc-authorize"))  # absent while CIBA is off


def discovery_metadata(settings: Settings, doc: dict[str, Any]) -> dict[str, Any]:
    """What discovery adds while mutual TLS is on: bound tokens, and the endpoints a client
    reaches with its certificate (CIBA_MTLS_ENDPOINT_BASE, else the issuer's own)."""
    base = settings.mtls_endpoint_base
    aliases = {name: f"{base}{path}" if base else doc[name] for name, path in ALIASED if name in doc}
    return {"tls_client_certificate_bound_access_tokens": True, "mtls_endpoint_aliases": aliases}
