"""A client's X.509 certificate against what it registered (RFC 8705 2.1.2, 2.2, 3.1).

- ``tls_client_auth``: the certificate names the client by exactly one of
  ``tls_client_auth_subject_dn`` (an RFC 4514 string), ``tls_client_auth_san_dns``,
  ``tls_client_auth_san_uri``, ``tls_client_auth_san_ip`` or ``tls_client_auth_san_email``.
- ``self_signed_tls_client_auth``: the certificate's public key is one of the client's JWKs.
- a certificate-bound access token carries ``cnf.x5t#S256``: the certificate's SHA-256
  thumbprint, base64url without padding.

Subject DNs are compared as parsed names, not as strings: attribute types by OID (``CN`` and
``cn`` and ``2.5.4.3`` are one), RDNs in order, values with surrounding and repeated whitespace
dropped and case folded (LDAP's caseIgnoreMatch, which the DN attributes use).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

# The fields of RFC 8705 2.1.2; a tls_client_auth client registers exactly one.
IDENTITY_FIELDS = ("tls_client_auth_subject_dn", "tls_client_auth_san_dns", "tls_client_auth_san_uri",
                   "tls_client_auth_san_ip", "tls_client_auth_san_email")
THUMBPRINT = "x5t#S256"

# Attribute type names a DN may use (RFC 4514 3 and the common extras), upper-cased.
_ATTRIBUTE_TYPES = {
    "CN": NameOID.COMMON_NAME, "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME, "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME, "STREET": NameOID.STREET_ADDRESS, "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID, "SERIALNUMBER": NameOID.SERIAL_NUMBER, "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "E": NameOID.EMAIL_ADDRESS, "GN": NameOID.GIVEN_NAME, "GIVENNAME": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME, "SURNAME": NameOID.SURNAME, "TITLE": NameOID.TITLE,
    "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER, "POSTALCODE": NameOID.POSTAL_CODE,
    "BUSINESSCATEGORY": NameOID.BUSINESS_CATEGORY, "JURISDICTIONC": NameOID.JURISDICTION_COUNTRY_NAME,
}
_OID = re.compile(r"^(?:OID\.)?([0-2](?:\.[0-9]+)+)$", re.IGNORECASE)
_HEX = frozenset("0123456789abcdefABCDEF")

Rdn = frozenset[tuple[str, str]]


def _fold(value: str) -> str:
    return " ".join(value.split()).casefold()


def _attribute_type(name: str) -> str:
    name = name.strip()
    dotted = _OID.match(name)
    if dotted:
        return dotted.group(1)
    oid = _ATTRIBUTE_TYPES.get(name.upper())
    if oid is None:
        raise ValueError(f"unknown attribute type {name[:40]!r}")
    return oid.dotted_string


def parse_dn(text: str) -> list[Rdn]:
    """The RDNs of an RFC 4514 string, in the order written (the most specific first), each a
    set of (OID, folded value). ValueError when it is not one. Whitespace around the
    separators is tolerated; a ``#``-encoded (BER) value is not accepted."""
    rdns: list[Rdn] = []
    attributes: list[tuple[str, str]] = []
    name: str | None = None
    value: list[str] = []
    pending: bytearray = bytearray()  # \XX escapes: UTF-8 bytes, decoded together
    i = 0

    def flush_bytes() -> None:
        if pending:
            try:
                value.append(pending.decode("utf-8"))
            except UnicodeDecodeError:
                raise ValueError("an escaped value is not UTF-8") from None
            pending.clear()

    def end_attribute() -> None:
        nonlocal name
        flush_bytes()
        if name is None:
            raise ValueError("an attribute has no '='")
        raw = "".join(value)
        if raw.strip().startswith("#"):
            raise ValueError("a #-encoded value is not accepted: write the string form")
        if not raw.strip():
            raise ValueError(f"attribute {name.strip()[:40]!r} has an empty value")
        attributes.append((_attribute_type(name), _fold(raw)))
        name = None
        value.clear()

    while i < len(text):
        char = text[i]
        if char == "\\":
            following = text[i + 1:i + 3]
            if len(following) == 2 and set(following) <= _HEX:
                pending.append(int(following, 16))
                i += 3
                continue
            if not following:
                raise ValueError("the DN ends with a lone backslash")
            flush_bytes()
            value.append(following[0])
            i += 2
            continue
        if name is None:
            if char == "=":
                name, i = "".join(value), i + 1
                value.clear()
                continue
            if char in ",;+":
                raise ValueError("an attribute has no '='")
            value.append(char)
        elif char in ",;+":
            end_attribute()
            if char != "+":
                rdns.append(frozenset(attributes))
                attributes = []
        else:
            flush_bytes()
            value.append(char)
        i += 1
    end_attribute()
    rdns.append(frozenset(attributes))
    return rdns


def check_dn(text: str) -> str:
    """``text`` when it is an RFC 4514 DN (for registration), else ValueError."""
    parse_dn(text)
    return text


def _certificate_dn(name: x509.Name) -> list[Rdn]:
    # x509.Name keeps the ASN.1 order (the most general first); RFC 4514 writes it reversed.
    return [frozenset((attribute.oid.dotted_string,
                       _fold(attribute.value if isinstance(attribute.value, str) else attribute.value.hex()))
                      for attribute in rdn)
            for rdn in reversed(name.rdns)]


def _san(certificate: x509.Certificate) -> x509.SubjectAlternativeName | None:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None


def _dns_names(names: Iterable[str]) -> set[str]:
    return {name.rstrip(".").casefold() for name in names}


def _email(address: str) -> tuple[str, str]:
    local, _, domain = address.rpartition("@")
    return local, domain.casefold()


def identity_matches(certificate: x509.Certificate, field: str, expected: str) -> bool:
    """Whether ``certificate`` carries the registered identity ``field`` = ``expected``."""
    try:
        if field == "tls_client_auth_subject_dn":
            return _certificate_dn(certificate.subject) == parse_dn(expected)
        san = _san(certificate)
        if san is None:
            return False
        if field == "tls_client_auth_san_dns":
            return bool(_dns_names([expected]) & _dns_names(san.get_values_for_type(x509.DNSName)))
        if field == "tls_client_auth_san_uri":
            return expected in san.get_values_for_type(x509.UniformResourceIdentifier)
        if field == "tls_client_auth_san_ip":
            return ipaddress.ip_address(expected) in san.get_values_for_type(x509.IPAddress)
        if field == "tls_client_auth_san_email":
            return _email(expected) in {_email(name) for name in san.get_values_for_type(x509.RFC822Name)}
    except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
        return False
    return False


def registered_identity(metadata: dict[str, Any]) -> tuple[str, str] | None:
    """The one (field, value) of RFC 8705 2.1.2 a tls_client_auth client registered."""
    given = [(field, metadata[field]) for field in IDENTITY_FIELDS if isinstance(metadata.get(field), str)]
    return given[0] if len(given) == 1 else None


def thumbprint(der: bytes) -> str:
    """RFC 8705 3.1: base64url(SHA-256(DER certificate)), unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def public_key_der(certificate: x509.Certificate) -> bytes:
    """The certificate's SubjectPublicKeyInfo (DER), to compare with a JWK's key."""
    return certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)


def is_self_signed(certificate: x509.Certificate) -> bool:
    if certificate.issuer != certificate.subject:
        return False
    try:
        certificate.verify_directly_issued_by(certificate)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
