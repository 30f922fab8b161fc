"""Mutual TLS pieces without a server: RFC 4514 DNs, the registered identity against a
certificate, a proxy's certificate header, and the settings that turn it on."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from services.gateway.mtls import certificate_from_header
from shared.domain.client_certificates import identity_matches, is_self_signed, parse_dn, thumbprint
from shared.settings import Settings, describe_invalid


def _certificate(subject: x509.Name, sans: list[x509.GeneralName]) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1)))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


SUBJECT = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "GB"),
                     x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example  Bank"),
                     x509.NameAttribute(NameOID.COMMON_NAME, "bank, client")])
CERT = _certificate(SUBJECT, [x509.DNSName("client.bank.example"), x509.IPAddress(ipaddress.ip_address("::1")),
                              x509.RFC822Name("Ops@Bank.Example"),
                              x509.UniformResourceIdentifier("https://bank.example/c")])


@pytest.mark.parametrize("dn", [
    r"CN=bank\, client,O=Example Bank,C=GB",
    r"cn=BANK\2C CLIENT , o = example bank ; c=gb",
    r"2.5.4.3=bank\, client,OID.2.5.4.10=Example Bank,C=GB",
])
def test_a_subject_dn_matches_however_it_is_written(dn: str) -> None:
    assert identity_matches(CERT, "tls_client_auth_subject_dn", dn)


@pytest.mark.parametrize("dn", [
    "C=GB,O=Example Bank,CN=bank\\, client",  # the RDNs in the other order
    "CN=bank\\, client,O=Example Bank",  # one missing
    "CN=bank\\, client+OU=x,O=Example Bank,C=GB",  # a multi-valued RDN
    "CN=bank client,O=Example Bank,C=GB",
])
def test_another_subject_dn_does_not_match(dn: str) -> None:
    assert not identity_matches(CERT, "tls_client_auth_subject_dn", dn)


@pytest.mark.parametrize("text", ["", "CN", "/C=GB/CN=x", "XX=1", "CN=", "CN=#04024869", "CN=a\\", "CN=\\ff"])
def test_what_is_not_an_rfc_4514_dn(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dn(text)


@pytest.mark.parametrize(("field", "value", "matches"), [
    ("tls_client_auth_san_dns", "Client.Bank.Example.", True),
    ("tls_client_auth_san_dns", "bank.example", False),
    ("tls_client_auth_san_ip", "0:0::1", True),
    ("tls_client_auth_san_ip", "127.0.0.1", False),
    ("tls_client_auth_san_ip", "not an address", False),
    ("tls_client_auth_san_email", "Ops@bank.example", True),
    ("tls_client_auth_san_email", "ops@bank.example", False),  # the local part is case-sensitive
    ("tls_client_auth_san_uri", "https://bank.example/c", True),
    ("tls_client_auth_san_uri", "https://bank.example/C", False),
])
def test_subject_alternative_names(field: str, value: str, matches: bool) -> None:
    assert identity_matches(CERT, field, value) is matches


def test_a_certificate_without_subject_alternative_names_matches_none() -> None:
    bare = _certificate(SUBJECT, [])
    assert not identity_matches(bare, "tls_client_auth_san_dns", "client.bank.example")
    assert is_self_signed(bare)


def test_the_thumbprint_is_base64url_sha256_of_the_der() -> None:
    # RFC 8705 appendix A's certificate and its x5t#S256.
    pem = (
        "MIIBBjCBrAIBAjAKBggqhkjOPQQDAjAPMQ0wCwYDVQQDDARtdGxzMB4XDTE4MTAx"
        "ODEyMzcwOVoXDTIyMDUwMjEyMzcwOVowDzENMAsGA1UEAwwEbXRsczBZMBMGByqG"
        "SM49AgEGCCqGSM49AwEHA0IABNcnyxwqV6hY8QnhxxzFQ03C7HKW9OylMbnQZjjJ"
        "/Au08/coZwxS7LfA4vOLS9WuneIXhbGGWvsDSb0tH6IxLm8wCgYIKoZIzj0EAwID"
        "SQAwRgIhAP0RC1E+vwJD/D1AGHGzuri+hlV/PpQEKTWUVeORWz83AiEA5x2eXZOV"
        "bUlJSGQgjwD5vaUaKlLR50Q2DmFfQj1L+SY=")
    assert thumbprint(base64.b64decode(pem)) == "A4DtL2JmUMhAsvJj5tKyn64SqzmuXbMrJa0n761y5v0"


DER = CERT.public_bytes(serialization.Encoding.DER)
PEM = CERT.public_bytes(serialization.Encoding.PEM).decode()


@pytest.mark.parametrize("value", [
    quote(PEM, safe=""),  # nginx $ssl_client_escaped_cert
    PEM.replace("\n", " "),  # a PEM folded onto one line
    PEM.replace("\n", "\t"),
    base64.b64encode(DER).decode(),
    base64.urlsafe_b64encode(DER).decode().rstrip("="),
    quote(base64.b64encode(DER).decode(), safe=""),  # Traefik: URL-escaped base64 DER
])
def test_the_header_carries_pem_or_der(value: str) -> None:
    assert certificate_from_header(value) == DER


@pytest.mark.parametrize("value", ["", "  ", "(null)", "-"])
def test_the_header_says_there_is_none(value: str) -> None:
    assert certificate_from_header(value) is None


@pytest.mark.parametrize("value", ["not a certificate", "-----BEGIN CERTIFICATE-----\nAAAA",
                                   base64.b64encode(b"not DER").decode(), "%ZZ"])
def test_a_header_that_is_no_certificate(value: str) -> None:
    with pytest.raises(ValueError):
        certificate_from_header(value)


def _settings(**values: object) -> Settings:
    return Settings(env="development", **values)  # type: ignore[arg-type]


def _refused(**values: object) -> str:
    with pytest.raises(ValidationError) as caught:
        _settings(**values)
    return describe_invalid(caught.value)


def test_the_tls_settings(tmp_path: Path) -> None:
    pem = tmp_path / "x.pem"
    pem.write_text("x")
    assert "together" in _refused(http_tls_cert=str(pem))
    assert "is not a file" in _refused(http_tls_cert=str(tmp_path / "missing"), http_tls_key=str(pem))
    assert "CIBA_HTTP_TLS_CLIENT_CA needs" in _refused(http_tls_client_ca=str(pem))
    assert "needs CIBA_TRUSTED_PROXIES" in _refused(tls_client_cert_header="X-SSL-Client-Cert")
    assert "CIBA_TLS_CLIENT_CERT_HEADER" in _refused(tls_client_cert_header="X SSL", trusted_proxies="10.0.0.1")
    assert "needs CIBA_TLS_CLIENT_CERT_HEADER" in _refused(tls_client_verify_header="X-SSL-Client-Verify")
    assert "CIBA_MTLS_ENDPOINT_BASE" in _refused(mtls_endpoint_base="mtls.example.com")
    assert not _settings().mtls_enabled
    assert _settings(tls_client_cert_header="X-SSL-Client-Cert", trusted_proxies="10.0.0.1").mtls_enabled
    assert _settings(mtls_endpoint_base="https://mtls.example.com/").mtls_endpoint_base == "https://mtls.example.com"
