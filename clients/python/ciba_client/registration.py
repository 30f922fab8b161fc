"""Dynamic client registration (RFC 7591) with the CIBA metadata of CIBA Core 4.

For providers that leave registration open (``registration_endpoint`` in discovery); others
register clients out of band and hand over a client_id and secret.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from ciba_client._http import USER_AGENT, parse_object, read_body
from ciba_client.discovery import CIBA_GRANT, ProviderMetadata
from ciba_client.errors import UnexpectedResponse, error_from_response


@dataclass(frozen=True)
class ClientRegistration:
    """The provider's answer (RFC 7591 3.2.1). The secret and the registration access token
    are shown once: store them."""

    client_id: str
    client_secret: str | None = field(repr=False)
    registration_access_token: str | None = field(repr=False)
    registration_client_uri: str | None
    metadata: Mapping[str, Any] = field(repr=False)


def ciba_client_metadata(*, client_name: str, delivery_mode: str = "poll",
                         notification_endpoint: str | None = None, refresh_tokens: bool = True,
                         **extra: Any) -> dict[str, Any]:
    """The metadata of a CIBA client: its grant types, delivery mode and notification endpoint;
    ``extra`` adds the rest (``token_endpoint_auth_method``, ``jwks``, ``scope``, ...)."""
    metadata: dict[str, Any] = {
        "client_name": client_name,
        "grant_types": [CIBA_GRANT, *(["refresh_token"] if refresh_tokens else [])],
        "backchannel_token_delivery_mode": delivery_mode,
        **extra,
    }
    if notification_endpoint is not None:
        metadata["backchannel_client_notification_endpoint"] = notification_endpoint
    return metadata


async def register_client(session: aiohttp.ClientSession, provider: ProviderMetadata, metadata: Mapping[str, Any],
                          *, initial_access_token: str | None = None, timeout: float = 30.0) -> ClientRegistration:
    if provider.registration_endpoint is None:
        raise ValueError("the provider does not offer dynamic registration")
    headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": USER_AGENT}
    if initial_access_token is not None:
        headers["Authorization"] = f"Bearer {initial_access_token}"
    async with session.post(provider.registration_endpoint, data=json.dumps(dict(metadata)), headers=headers,
                            allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        text = await read_body(response)
        if response.status != 201:
            raise error_from_response(response.status, text, response.headers)
    body = parse_object(text, status=201, what="the registration response")
    if not isinstance(body.get("client_id"), str):
        raise UnexpectedResponse("the registration response has no client_id", status=201)
    return ClientRegistration(body["client_id"], body.get("client_secret"), body.get("registration_access_token"),
                              body.get("registration_client_uri"), body)
