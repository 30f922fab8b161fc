"""The discovery document as off-the-shelf OAuth libraries read it: authlib's OpenID Provider
and RFC 8414 validators accept it, at both well-known addresses, while CIBA is on and off."""

from __future__ import annotations

import pytest
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9101 import AuthorizationServerMetadata as RequestObjectMetadata
from authlib.oidc.discovery import OpenIDProviderMetadata

from tests.support.gateway_client import register_raw, server_property

PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@pytest.fixture(autouse=True)
def http_issuer(monkeypatch) -> None:
    """The test issuer is http://127.0.0.1 (production demands https, which is what authlib
    checks); everything else is validated as it stands."""
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("ciba", [True, False])
async def test_the_metadata_passes_authlibs_validators(http, gateway, path, ciba) -> None:
    async with server_property(gateway, "featureFlags", ["ciba"] if ciba else []):
        answer = await http.get(path)
        assert answer.status == 200
        doc = await answer.json()
    OpenIDProviderMetadata(doc).validate(metadata_classes=[RequestObjectMetadata])
    AuthorizationServerMetadata(doc).validate()
    assert "authorization_endpoint" not in doc  # none exists, and none is invented
    assert doc["response_types_supported"] == ["none"]
    assert {"revocation_endpoint", "introspection_endpoint"} <= set(doc)


async def test_both_addresses_serve_the_same_document(http) -> None:
    first, second = [await (await http.get(path)).json() for path in PATHS]
    assert first == second


async def test_a_client_may_register_the_response_types_discovery_lists(http) -> None:
    registered = await register_raw(http, response_types=["none"])
    assert registered["response_types"] == []
