"""Provider metadata (OpenID Connect Discovery 1.0, CIBA Core 4).

The document is fetched from ``<issuer>/.well-known/openid-configuration`` and its ``issuer``
must be exactly the one asked for (Discovery 4.3): otherwise a document served elsewhere could
point the client at endpoints and keys of someone else's choosing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ciba_client._http import get_json
from ciba_client.errors import UnexpectedResponse

WELL_KNOWN = "/.well-known/openid-configuration"
CIBA_GRANT = "urn:openid:params:grant-type:ciba"
DELIVERY_MODES = ("poll", "ping", "push")


class DiscoveryError(UnexpectedResponse):
    """The discovery document is unusable: wrong issuer, a missing endpoint, no CIBA."""

    code = "invalid_provider_metadata"


def _strings(doc: Mapping[str, Any], name: str) -> tuple[str, ...]:
    value = doc.get(name)
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def _url(doc: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = doc.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("https", "http"):
        raise DiscoveryError(f"the discovery document has no usable {name}")
    return value


def is_loopback_http(url: str) -> bool:
    """Plain http is acceptable only to a provider on this machine (development)."""
    parts = urlsplit(url)
    return parts.scheme == "http" and (parts.hostname or "") in ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ProviderMetadata:
    """What a CIBA relying party needs from the discovery document; ``raw`` holds all of it."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    backchannel_authentication_endpoint: str
    backchannel_token_delivery_modes_supported: tuple[str, ...]
    backchannel_user_code_parameter_supported: bool = False
    backchannel_authentication_request_signing_alg_values_supported: tuple[str, ...] = ()
    userinfo_endpoint: str | None = None
    registration_endpoint: str | None = None
    revocation_endpoint: str | None = None
    introspection_endpoint: str | None = None
    id_token_signing_alg_values_supported: tuple[str, ...] = ("RS256",)
    token_endpoint_auth_methods_supported: tuple[str, ...] = ("client_secret_basic",)
    token_endpoint_auth_signing_alg_values_supported: tuple[str, ...] = ()
    grant_types_supported: tuple[str, ...] = ()
    scopes_supported: tuple[str, ...] = ()
    acr_values_supported: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, expected_issuer: str, allow_http: bool = False
                      ) -> ProviderMetadata:
        """Validate the document for a CIBA client and keep what it needs."""
        issuer = doc.get("issuer")
        if issuer != expected_issuer:
            raise DiscoveryError(f"the discovery document's issuer is {issuer!r}, not {expected_issuer!r}")
        if urlsplit(expected_issuer).scheme != "https" and not (allow_http or is_loopback_http(expected_issuer)):
            raise DiscoveryError("the issuer must use https (plain http only on loopback, or with allow_http)")
        backchannel = doc.get("backchannel_authentication_endpoint")
        if backchannel is None:
            raise DiscoveryError("the provider does not offer CIBA (no backchannel_authentication_endpoint;"
                                 " it may be switched off)")
        grants = _strings(doc, "grant_types_supported")
        if grants and CIBA_GRANT not in grants:
            raise DiscoveryError(f"the provider does not list the {CIBA_GRANT} grant")
        user_code = doc.get("backchannel_user_code_parameter_supported")
        return cls(
            issuer=expected_issuer,
            token_endpoint=_url(doc, "token_endpoint", required=True) or "",
            jwks_uri=_url(doc, "jwks_uri", required=True) or "",
            backchannel_authentication_endpoint=_url(doc, "backchannel_authentication_endpoint",
                                                     required=True) or "",
            backchannel_token_delivery_modes_supported=tuple(
                m for m in _strings(doc, "backchannel_token_delivery_modes_supported") if m in DELIVERY_MODES),
            backchannel_user_code_parameter_supported=user_code is True,
            backchannel_authentication_request_signing_alg_values_supported=_strings(
                doc, "backchannel_authentication_request_signing_alg_values_supported"),
            userinfo_endpoint=_url(doc, "userinfo_endpoint"),
            registration_endpoint=_url(doc, "registration_endpoint"),
            revocation_endpoint=_url(doc, "revocation_endpoint"),
            introspection_endpoint=_url(doc, "introspection_endpoint"),
            # OIDC Discovery 3: RS256 when the member is absent.
            id_token_signing_alg_values_supported=_strings(doc, "id_token_signing_alg_values_supported")
            or ("RS256",),
            # OIDC Discovery 3: client_secret_basic when the member is absent.
            token_endpoint_auth_methods_supported=_strings(doc, "token_endpoint_auth_methods_supported")
            or ("client_secret_basic",),
            token_endpoint_auth_signing_alg_values_supported=_strings(
                doc, "token_endpoint_auth_signing_alg_values_supported"),
            grant_types_supported=grants,
            scopes_supported=_strings(doc, "scopes_supported"),
            acr_values_supported=_strings(doc, "acr_values_supported"),
            raw=dict(doc),
        )

    def supports_mode(self, mode: str) -> bool:
        return mode in self.backchannel_token_delivery_modes_supported


def discovery_url(issuer: str) -> str:
    """Discovery 4.1: the well-known path is appended to the issuer (after any path it has)."""
    return issuer.rstrip("/") + WELL_KNOWN


async def fetch_metadata(session: aiohttp.ClientSession, issuer: str, *, timeout: float = 10.0,
                         allow_http: bool = False) -> ProviderMetadata:
    doc = await get_json(session, discovery_url(issuer), timeout=timeout)
    return ProviderMetadata.from_document(doc, expected_issuer=issuer, allow_http=allow_http)
