"""The schemas generated from the pydantic models the server validates with: Error (the body of
every protocol error, shared.errors.ErrorBody) and ClientMetadata (the body of /register,
shared.domain.client_metadata.ClientMetadata, as it is validated).

A model says the types and limits; what its validators check beyond them (the allowed values,
from the same constants) and what a member means are added here, member by member.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from services.gateway.client_auth import JWT_BEARER
from shared.domain.claims import SCOPES_SUPPORTED
from shared.domain.client_certificates import IDENTITY_FIELDS
from shared.domain.client_metadata import ASYMMETRIC_ALGS, HMAC_ALGS, SUPPORTED_AUTH_METHODS, ClientMetadata
from shared.domain.grant_types import SUPPORTED_GRANT_TYPES
from shared.errors import ErrorBody
from shared.jose.keys import SUPPORTED_SIGNING_ALGS

REF_TEMPLATE = "#/components/schemas/{model}"
ASSERTION_ALGS = (*ASYMMETRIC_ALGS, *HMAC_ALGS)
CLIENT_ASSERTION_TYPE = JWT_BEARER

_TLS_IDENTITIES = {
    "tls_client_auth_subject_dn": "The certificate's subject DN, an RFC 4514 string (compared attribute by "
                                  "attribute, case-insensitively).",
    "tls_client_auth_san_dns": "A dNSName of the certificate's subjectAltName.",
    "tls_client_auth_san_uri": "A uniformResourceIdentifier of its subjectAltName.",
    "tls_client_auth_san_ip": "An iPAddress of its subjectAltName (IPv4 or IPv6).",
    "tls_client_auth_san_email": "An rfc822Name of its subjectAltName.",
}
_CLIENT_METADATA: dict[str, dict[str, Any]] = {
    "response_types": {"values": ["none"], "description": 'This server has no authorization endpoint: [] '
                                                          '(or ["none"], the same).'},
    "grant_types": {"values": list(SUPPORTED_GRANT_TYPES),
                    "description": "A refresh token is issued when refresh_token is included."},
    "token_endpoint_auth_method": {"values": list(SUPPORTED_AUTH_METHODS)},
    "token_endpoint_auth_signing_alg": {"values": list(ASSERTION_ALGS), "description": "The assertion's alg: HS* "
                                        "for client_secret_jwt, the others for private_key_jwt."},
    **{name: {"description": f"RFC 8705 2.1.2: for tls_client_auth, which requires exactly one of the "
                             f"{len(IDENTITY_FIELDS)} tls_client_auth_* members. {what}"}
       for name, what in _TLS_IDENTITIES.items()},
    "tls_client_certificate_bound_access_tokens": {
        "description": "RFC 8705 3.4: access tokens bound to the client's TLS certificate (cnf.x5t#S256); every "
                       "token request must then present it. Not for push clients."},
    "scope": {"description": "Space-separated; must include openid. Default: every scope supported "
                             f"({' '.join(SCOPES_SUPPORTED)})."},
    "jwks": {"description": "A JWK Set (RFC 7517 5) of public keys only; exclusive with jwks_uri."},
    "jwks_uri": {"description": "https (http on loopback in development)."},
    "id_token_signed_response_alg": {"values": list(SUPPORTED_SIGNING_ALGS)},
    "dpop_bound_access_tokens": {
        "description": "RFC 9449 5.2: every token request must carry a DPoP proof. Not for push clients (pushed "
                       "tokens are minted without a proof)."},
    "backchannel_token_delivery_mode": {"description": "Required for the CIBA grant."},
    "backchannel_client_notification_endpoint": {
        "description": "Required for ping and push: https, not in a private network."},
    "backchannel_authentication_request_signing_alg": {"values": list(SUPPORTED_SIGNING_ALGS)},
    "authorization_details_types": {
        "description": "RFC 9396 10: the authorization_details types the client uses; each must be in "
                       "authorization_details_types_supported."},
    "fapi_ciba": {"description": "This client follows the FAPI-CIBA profile (PS256 or ES256, private_key_jwt or "
                                 "mTLS, poll or ping, signed requests, sender-constrained tokens)."},
}


def _without_titles(schema: Any) -> Any:
    """pydantic's titles repeat the member names; the document leaves them out."""
    if isinstance(schema, list):
        return [_without_titles(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    return {key: ({name: _without_titles(member) for name, member in value.items()} if key == "properties"
                  else _without_titles(value)) for key, value in schema.items() if key != "title"}


def from_model(model: type[BaseModel], name: str,
               mode: Literal["validation", "serialization"] = "validation") -> dict[str, Any]:
    """The model's JSON schema as ``name``, and the schemas it refers to, each under its own name."""
    schema = model.model_json_schema(mode=mode, ref_template=REF_TEMPLATE)
    defined = schema.pop("$defs", {})
    return {name: _without_titles(schema), **{key: _without_titles(value) for key, value in defined.items()}}


def _allow(member: dict[str, Any], values: list[str]) -> None:
    """The values a validator allows, where the strings are: the items of an array, the
    non-null side of an optional member."""
    if member.get("type") == "array":
        member["items"]["enum"] = values
    elif "anyOf" in member:
        for side in member["anyOf"]:
            if side.get("type") != "null":
                _allow(side, values)
    else:
        member["enum"] = values


def client_metadata() -> dict[str, Any]:
    schemas = from_model(ClientMetadata, "ClientMetadata")
    metadata = schemas["ClientMetadata"]
    for name, extra in _CLIENT_METADATA.items():
        member = metadata["properties"][name]
        if "values" in extra:
            _allow(member, extra["values"])
        if "description" in extra:
            member["description"] = extra["description"]
    metadata["description"] = ("Client metadata (RFC 7591 2) with the CIBA metadata of CIBA Core 4. Unknown members "
                               "are ignored. A CIBA-only client registers without redirect_uris and with "
                               "response_types [].")
    metadata["example"] = {"client_name": "Kiosk", "grant_types": list(SUPPORTED_GRANT_TYPES),
                           "backchannel_token_delivery_mode": "poll"}
    return schemas


def model_schemas() -> dict[str, Any]:
    return {**from_model(ErrorBody, "Error"), **client_metadata()}
