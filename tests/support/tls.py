"""A throwaway certificate authority and a server certificate for 127.0.0.1, so TLS tests use
real TLS with a CA the services are told to trust (CIBA_OUTBOUND_CA_BUNDLE); and client
certificates, issued by that CA or self-signed, for mutual TLS (RFC 8705)."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TestPKI:
    ca_file: Path
    cert_file: Path
    key_file: Path
    ca_key_file: Path | None = None

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_pki(directory: Path) -> TestPKI:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("CIBA test CA")).issuer_name(_name("CIBA test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = TestPKI(directory / "ca.pem", directory / "server.pem", directory / "server.key", directory / "ca.key")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    assert pki.ca_key_file is not None
    pki.ca_key_file.write_bytes(ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    return pki


@dataclass(frozen=True)
class ClientCert:
    """A client's certificate and key (PEM files), for mutual TLS."""

    cert_file: Path
    key_file: Path
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def context(self, ca_file: Path) -> ssl.SSLContext:
        """A client context that trusts ``ca_file`` for the server and presents this certificate."""
        context = ssl.create_default_context(cafile=ca_file)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def jwk(self) -> dict:
        """The certificate's public key as a JWK, with the certificate in x5c (RFC 8705 2.2.2)."""
        from joserfc.jwk import ECKey

        key = ECKey.import_key(self.certificate.public_key()).as_dict(private=False)
        return {**key, "x5c": [base64.b64encode(self.der).decode()]}


def client_cert(pki: TestPKI, directory: Path, stem: str, subject: x509.Name, *,
                sans: list[x509.GeneralName] | None = None, self_signed: bool = False) -> ClientCert:
    """A client certificate for ``subject`` (EKU clientAuth), issued by ``pki``'s CA or
    self-signed."""
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    if self_signed:
        issuer_name, signing_key = subject, key
    else:
        assert pki.ca_key_file is not None
        ca_cert = x509.load_pem_x509_certificate(pki.ca_file.read_bytes())
        issuer_name = ca_cert.subject
        signing_key = serialization.load_pem_private_key(pki.ca_key_file.read_bytes(), None)  # type: ignore[assignment]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(issuer_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    certificate = builder.sign(signing_key, hashes.SHA256())  # type: ignore[arg-type]
    made = ClientCert(directory / f"{stem}.pem", directory / f"{stem}.key", certificate)
    made.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    made.key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    return made
