"""The schemas of the bodies the code builds as dicts, where no model describes them: the
requests of the form-encoded endpoints, the answers of /bc-authorize, /token, /introspect,
/userinfo, discovery, JWKS and health, and the registration's answer (the metadata and what the
server assigned)."""

from __future__ import annotations

from typing import Any

from services.gateway.endpoints.openapi.responses import ref
from services.gateway.endpoints.openapi.schemas import CLIENT_ASSERTION_TYPE
from shared.domain.grant_types import CIBA_GRANT, SUPPORTED_GRANT_TYPES

_STRING_LIST = {"type": "array", "items": {"type": "string"}}
# RFC 9396 2: what the user approved besides the scopes, as the client asked for it.
_AUTHORIZATION_DETAILS = {"type": "array", "items": {"type": "object", "required": ["type"],
                                                     "properties": {"type": {"type": "string"}}},
                          "description": "The granted authorization_details (RFC 9396 7, 9.2)."}
_CLIENT_AUTH_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "description": "The client's identifier (client_secret_post, and "
                  "tls_client_auth / self_signed_tls_client_auth, where the TLS client certificate authenticates "
                  "it, RFC 8705 2; optional with Basic, where it must match)."},
    "client_secret": {"type": "string", "description": "client_secret_post: the client's secret. "
                      "Send it here or in the Authorization header, never both."},
    "client_assertion": {"type": "string", "description": "client_secret_jwt / private_key_jwt: a signed JWT "
                         "(RFC 7523) authenticating the client."},
    "client_assertion_type": {"type": "string", "enum": [CLIENT_ASSERTION_TYPE]},
}


def bodies() -> dict[str, Any]:
    return {
        "Jwks": {
            "type": "object",
            "description": "A JWK Set (RFC 7517 5).",
            "required": ["keys"],
            "properties": {"keys": {"type": "array", "items": {"type": "object", "required": ["kty"],
                                                               "properties": {"kty": {"type": "string"},
                                                                              "kid": {"type": "string"},
                                                                              "alg": {"type": "string"},
                                                                              "use": {"type": "string"}}}}},
        },
        "ClientInformation": {
            "description": "The registered metadata, with the credentials (RFC 7591 3.2.1, RFC 7592 3). The "
                           "secret is shown once.",
            "allOf": [ref("ClientConfiguration"), {"type": "object", "required": ["client_secret"],
                                                    "properties": {"client_secret": {"type": "string"}}}],
        },
        "ClientConfiguration": {
            "description": "The registered metadata and what the server assigned (RFC 7592 3), without "
                           "the secret.",
            "allOf": [ref("ClientMetadata"), {
                "type": "object",
                "required": ["client_id", "client_id_issued_at", "client_secret_expires_at",
                             "registration_access_token", "registration_client_uri"],
                "properties": {
                    "client_id": {"type": "string"},
                    "client_id_issued_at": {"type": "integer"},
                    "client_secret_expires_at": {"type": "integer", "const": 0},
                    "registration_access_token": {"type": "string"},
                    "registration_client_uri": {"type": "string", "format": "uri"},
                },
            }],
        },
        "AuthenticationRequest": {
            "type": "object",
            "description": "A backchannel authentication request (CIBA Core 7.1) with the client's "
                           "authentication. Exactly one of login_hint, login_hint_token and id_token_hint. "
                           "Each parameter at most once; none in the query string.",
            "required": ["scope"],
            "properties": {
                "scope": {"type": "string", "description": "Space-separated; must include openid."},
                "client_notification_token": {"type": "string", "maxLength": 1024,
                                              "description": "Required for ping and push clients."},
                "acr_values": {"type": "string", "description": "Space-separated acr values, in order of "
                                                                "preference."},
                "login_hint_token": {"type": "string", "description": "A JWT signed by the client whose "
                                     "subject claim names the user."},
                "id_token_hint": {"type": "string", "description": "An ID token this server issued."},
                "login_hint": {"type": "string", "description": "The user's username, email or phone "
                                                                "number."},
                "binding_message": {"type": "string", "maxLength": 64,
                                    "description": "Shown on both devices (letters, digits, space, "
                                                   ".,:;!?#+/()'-)."},
                "user_code": {"type": "string", "description": "The user's secret code, where required."},
                "requested_expiry": {"type": "integer", "minimum": 1,
                                     "description": "Seconds; at most cibaMaxExpirationTimeAllowedSec."},
                "authorization_details": {
                    "type": "string", "description": "RFC 9396: a JSON array of objects, each with a type the "
                    "server supports and the client registered (at most 10 objects, 8 KiB)."},
                "request": {"type": "string", "description": "A signed authentication request (JWT) carrying "
                                                            "the parameters above."},
                **_CLIENT_AUTH_FIELDS,
            },
            "example": {"scope": "openid email", "login_hint": "alice@example.com",
                        "binding_message": "Kiosk 7Q"},
        },
        "DeviceRegistrationRequest": {
            "type": "object",
            "required": ["id_token_hint", "device_registration_token"],
            "properties": {
                "id_token_hint": {"type": "string", "description": "An unexpired id_token this server issued "
                                  "to the calling client; its sub is the user."},
                "device_registration_token": {"type": "string", "maxLength": 4096,
                                              "description": "The device's push token (e.g. an FCM token)."},
                **_CLIENT_AUTH_FIELDS,
            },
        },
        "DeviceRegistrationResponse": {
            "type": "object",
            "required": ["device_registration_id"],
            "properties": {"device_registration_id": {"type": "string", "format": "uuid"}},
        },
        "AuthenticationResponse": {
            "type": "object",
            "required": ["auth_req_id", "expires_in"],
            "properties": {
                "auth_req_id": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
                "expires_in": {"type": "integer", "minimum": 1},
                "interval": {"type": "integer", "minimum": 0,
                             "description": "Minimum seconds between polls; absent for push clients."},
            },
        },
        "TokenRequest": {
            "type": "object",
            "description": "A token request with the client's authentication. The CIBA grant takes "
                           "auth_req_id (CIBA Core 10.1); refresh_token takes refresh_token and an optional "
                           "narrower scope (RFC 6749 6).",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": list(SUPPORTED_GRANT_TYPES)},
                "auth_req_id": {"type": "string"},
                "refresh_token": {"type": "string"},
                "scope": {"type": "string"},
                **_CLIENT_AUTH_FIELDS,
            },
            "example": {"grant_type": CIBA_GRANT, "auth_req_id": "4m8uXRm1_bcW2y9Jk6LqkGxqQpLwT1yP0S3e5n7vHdA"},
        },
        "RevocationRequest": {
            "type": "object",
            "description": "A token to revoke (RFC 7009 2.1) with the client's authentication.",
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "description": "An access token or a refresh token the client "
                                                          "was issued; a refresh token's whole grant ends."},
                "token_type_hint": {"type": "string", "description": "access_token or refresh_token: which "
                                                                    "to look for first."},
                **_CLIENT_AUTH_FIELDS,
            },
        },
        "Introspection": {
            "type": "object",
            "description": "What the token is (RFC 7662 2.2); only active: false when it is not active, or not "
                           "the caller's to see.",
            "required": ["active"],
            "properties": {
                "active": {"type": "boolean"}, "scope": {"type": "string"}, "client_id": {"type": "string"},
                "sub": {"type": "string"}, "iss": {"type": "string"}, "aud": {"type": "string"},
                "exp": {"type": "integer"}, "iat": {"type": "integer"}, "auth_time": {"type": "integer"},
                "acr": {"type": "string"}, "jti": {"type": "string"}, "token_type": {"type": "string"},
                "cnf": {"type": "object", "description": "What a sender-constrained access token is bound to "
                                                         "(RFC 7800): jkt for DPoP (RFC 9449 6.2), x5t#S256 for "
                                                         "a client certificate (RFC 8705 3.2)."},
                "authorization_details": _AUTHORIZATION_DETAILS,
            },
        },
        "TokenResponse": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_in", "id_token", "scope"],
            "properties": {
                "access_token": {"type": "string", "description": "A JWT (RFC 9068)."},
                "token_type": {"type": "string", "enum": ["Bearer", "DPoP"],
                               "description": "DPoP when the request carried a DPoP proof (RFC 9449 5)."},
                "expires_in": {"type": "integer"},
                "id_token": {"type": "string"},
                "scope": {"type": "string"},
                "refresh_token": {"type": "string"},
                "authorization_details": _AUTHORIZATION_DETAILS,
            },
        },
        "UserInfo": {
            "type": "object",
            "description": "The user's claims released by the token's scopes (OIDC Core 5.3.2).",
            "required": ["sub"],
            "properties": {"sub": {"type": "string"}},
            "additionalProperties": True,
        },
        "Discovery": {
            "type": "object",
            "description": "OpenID Provider metadata (OIDC Discovery 3, CIBA Core 4). The backchannel_* "
                           "members are present only while CIBA is enabled.",
            "required": ["issuer", "token_endpoint", "jwks_uri"],
            "properties": {
                "issuer": {"type": "string"},
                "token_endpoint": {"type": "string"},
                "userinfo_endpoint": {"type": "string"},
                "jwks_uri": {"type": "string"},
                "registration_endpoint": {"type": "string"},
                "backchannel_authentication_endpoint": {"type": "string"},
                "backchannel_token_delivery_modes_supported": _STRING_LIST,
                "backchannel_authentication_request_signing_alg_values_supported": _STRING_LIST,
                "backchannel_user_code_parameter_supported": {"type": "boolean"},
                "dpop_signing_alg_values_supported": _STRING_LIST,
                "authorization_details_types_supported": _STRING_LIST,
            },
            "additionalProperties": True,
        },
        "Health": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"type": "string", "enum": ["ok", "unavailable"]},
                           "checks": {"type": "object", "additionalProperties": {"type": "string"},
                                      "description": "Each readiness check: ok, or why it fails."}},
        },
    }
