"""The FAPI-CIBA profile (FAPI-CIBA ID1, on FAPI 1.0 Advanced): the rules a client under it
must follow, in one place, each answering with the spec's error.

The profile applies to a client when the server property ``fapiCibaProfile`` is on (every
client) or when the client registered ``fapi_ciba: true`` (mixed deployments). Under it:

- registration: delivery mode poll or ping (push is not part of FAPI-CIBA); authentication
  ``private_key_jwt``, ``tls_client_auth`` or ``self_signed_tls_client_auth``; id_tokens, request
  objects and client assertions PS256 or ES256 -> ``invalid_client_metadata``;
- a client registered before the switch that breaks one of those is refused at
  /bc-authorize and /token -> ``unauthorized_client``;
- /bc-authorize: a signed request (``request``) is required, signed PS256 or ES256, with
  ``exp``, ``nbf`` and ``aud`` and at most 60 minutes between ``nbf`` and ``exp`` (the request
  object checks enforce those for every client) -> ``invalid_request``; ``binding_message`` is
  required -> ``invalid_request``;
- client assertions signed PS256 or ES256 -> ``invalid_client``;
- /token: the access token must be sender-constrained (a client certificate, RFC 8705, or a
  DPoP proof, RFC 9449) -> ``invalid_request``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.config.model import ServerConfig
from shared.errors import Errors, InvalidClientMetadata, InvalidRequest, UnauthorizedClient
from shared.repositories.clients import Client

ALGS = ("PS256", "ES256")
# At registration, at a request of a registered client, at an authentication request.
ERRORS: Errors = (InvalidClientMetadata, UnauthorizedClient, InvalidRequest)
AUTH_METHODS = ("private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth")
DELIVERY_MODES = ("poll", "ping")


def applies(config: ServerConfig, client: Client) -> bool:
    return config.fapiCibaProfile or client.metadata.get("fapi_ciba") is True


def algorithms(candidates: Iterable[str], config: ServerConfig, client: Client) -> list[str]:
    """``candidates`` narrowed to the profile's algorithms when it applies to ``client``."""
    if not applies(config, client):
        return list(candidates)
    return [alg for alg in candidates if alg in ALGS]


def _problems(mode: str | None, auth_method: str, id_token_alg: str, request_alg: str | None,
              assertion_alg: str | None) -> list[str]:
    problems = []
    if mode is not None and mode not in DELIVERY_MODES:
        problems.append(f"backchannel_token_delivery_mode {mode} is not allowed (poll or ping)")
    if auth_method not in AUTH_METHODS:
        problems.append(f"token_endpoint_auth_method {auth_method} is not allowed ({', '.join(AUTH_METHODS)})")
    if id_token_alg not in ALGS:
        problems.append(f"id_token_signed_response_alg {id_token_alg} is not allowed (PS256 or ES256)")
    if request_alg is not None and request_alg not in ALGS:
        problems.append(f"backchannel_authentication_request_signing_alg {request_alg} is not allowed "
                        "(PS256 or ES256)")
    if assertion_alg is not None and assertion_alg not in ALGS:
        problems.append(f"token_endpoint_auth_signing_alg {assertion_alg} is not allowed (PS256 or ES256)")
    return problems


def check_registration(metadata: Any, config: ServerConfig) -> None:
    """At /register, its RFC 7592 update and ``ciba-admin client``: metadata the profile forbids
    (``metadata`` is a ClientMetadata). An id_token alg left unsaid becomes PS256."""
    if not (config.fapiCibaProfile or metadata.fapi_ciba):
        return
    if "id_token_signed_response_alg" not in metadata.model_fields_set:
        metadata.id_token_signed_response_alg = "PS256"  # the profile's default, not RS256
    problems = _problems(metadata.backchannel_token_delivery_mode, metadata.token_endpoint_auth_method,
                         metadata.id_token_signed_response_alg,
                         metadata.backchannel_authentication_request_signing_alg,
                         metadata.token_endpoint_auth_signing_alg)
    if problems:
        raise InvalidClientMetadata("FAPI-CIBA: " + "; ".join(problems))


def check_client(config: ServerConfig, client: Client) -> None:
    """At /bc-authorize and /token: a client registered before the switch may not go on under
    the profile with metadata it forbids."""
    if not applies(config, client):
        return
    problems = _problems(client.backchannel_token_delivery_mode, client.token_endpoint_auth_method,
                         client.id_token_signed_response_alg, client.backchannel_authentication_request_signing_alg,
                         client.token_endpoint_auth_signing_alg)
    if problems:
        raise UnauthorizedClient("FAPI-CIBA: " + "; ".join(problems) + "; update the client's registration")


def check_authentication_request(config: ServerConfig, client: Client, *, signed: bool,
                                 binding_message: str | None) -> None:
    if not applies(config, client):
        return
    if not signed:
        raise InvalidRequest("FAPI-CIBA: the authentication request must be signed (send it as request)")
    if not binding_message:
        raise InvalidRequest("FAPI-CIBA: binding_message is required")


def narrow_discovery(doc: dict[str, Any]) -> None:
    """While the profile is on server-wide, discovery offers only what it allows."""
    allowed = {
        "backchannel_token_delivery_modes_supported": DELIVERY_MODES,
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "id_token_signing_alg_values_supported": ALGS,
        "backchannel_authentication_request_signing_alg_values_supported": ALGS,
        "token_endpoint_auth_signing_alg_values_supported": ALGS,
        "introspection_endpoint_auth_signing_alg_values_supported": ALGS,
        "revocation_endpoint_auth_signing_alg_values_supported": ALGS,
    }
    for key, values in allowed.items():
        if key in doc:
            doc[key] = [value for value in doc[key] if value in values]


def check_sender_constrained(config: ServerConfig, client: Client, cnf: dict[str, Any] | None) -> None:
    if applies(config, client) and not cnf:
        raise InvalidRequest("FAPI-CIBA: access tokens must be sender-constrained: present the client "
                             "certificate (mutual TLS) or a DPoP proof")
