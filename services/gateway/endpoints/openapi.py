"""GET /openapi.json: an OpenAPI 3.1 description of the gateway's public API.

It covers the endpoints a relying party or an orchestrator calls (discovery, JWKS,
registration, the backchannel authentication and token endpoints, userinfo, health), with
their parameters, bodies, success responses and the protocol errors each can answer with.
The device pages are HTML for people and are left out. ``servers`` is the issuer.

The document is a plain dict built here, next to the code it describes; a test checks that
every route of services/gateway/app.py appears in it, so it cannot silently fall behind.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.gateway.client_auth import JWT_BEARER
from services.gateway.context import gateway
from shared.domain.claims import SCOPES_SUPPORTED
from shared.domain.client_metadata import ASYMMETRIC_ALGS, HMAC_ALGS, SUPPORTED_AUTH_METHODS
from shared.domain.grant_types import CIBA_GRANT
from shared.jose.keys import SUPPORTED_SIGNING_ALGS

PATH = "/openapi.json"
OPENAPI_VERSION = "3.1.0"

# The client authentication methods a client may register (RFC 7591 2, OIDC Core 9).
AUTH_METHODS = SUPPORTED_AUTH_METHODS
ASSERTION_ALGS = (*ASYMMETRIC_ALGS, *HMAC_ALGS)
JWT_BEARER_ASSERTION = JWT_BEARER
DELIVERY_MODES = ("poll", "ping", "push")

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

_URI = {"type": "string", "format": "uri", "maxLength": 2000}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
# RFC 9396 2: what the user approved besides the scopes, as the client asked for it.
_AUTHORIZATION_DETAILS = {"type": "array", "items": {"type": "object", "required": ["type"],
                                                     "properties": {"type": {"type": "string"}}},
                          "description": "The granted authorization_details (RFC 9396 7, 9.2)."}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _error(description: str, codes: list[str], headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An error response whose body is the Error object with one of ``codes``."""
    schema = {"allOf": [_ref("Error"), {"properties": {"error": {"enum": codes}}}]}
    response: dict[str, Any] = {"description": description, "content": _json(schema)}
    if headers:
        response["headers"] = headers
    return response


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


_TOO_LARGE = _error("The request body is larger than 64 KiB.", ["invalid_request"])
_REGISTRATION_TOKEN = _error("The registration (or initial) access token is missing or not valid.",
                             ["invalid_token"], {"WWW-Authenticate": _header("WWW-Authenticate-Bearer")})
_INVALID_CLIENT = _error("Client authentication failed.", ["invalid_client"],
                         {"WWW-Authenticate": _header("WWW-Authenticate-Basic")})
_CLIENT_AUTH_SECURITY: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
_DPOP_PARAMETER = {
    "name": "DPoP", "in": "header", "required": False,
    "description": "A DPoP proof (RFC 9449 4): a JWT with typ dpop+jwt, signed by the client's key (in its jwk "
                   "header), for this method and URL. At /token it binds the access token to the key; at "
                   "/userinfo it is required with a DPoP-bound token, with ath.",
    "schema": {"type": "string"},
}

_CLIENT_AUTH_FIELDS: dict[str, Any] = {
    "client_id": {"type": "string", "description": "The client's identifier (client_secret_post, and "
                  "tls_client_auth / self_signed_tls_client_auth, where the TLS client certificate authenticates "
                  "it, RFC 8705 2; optional with Basic, where it must match)."},
    "client_secret": {"type": "string", "description": "client_secret_post: the client's secret. "
                      "Send it here or in the Authorization header, never both."},
    "client_assertion": {"type": "string", "description": "client_secret_jwt / private_key_jwt: a signed JWT "
                         "(RFC 7523) authenticating the client."},
    "client_assertion_type": {"type": "string", "enum": [JWT_BEARER_ASSERTION]},
}


def _schemas() -> dict[str, Any]:
    algs = list(SUPPORTED_SIGNING_ALGS)
    return {
        "Error": {
            "type": "object",
            "description": "An OAuth 2.0 error response (RFC 6749 5.2, CIBA Core 11 and 13, RFC 7591 3.2.2, "
                           "RFC 6750 3.1).",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "The error code."},
                "error_description": {"type": "string", "description": "Human-readable detail (ASCII)."},
            },
        },
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
        "ClientMetadata": {
            "type": "object",
            "description": "Client metadata (RFC 7591 2) with the CIBA metadata of CIBA Core 4. Unknown members "
                           "are ignored. A CIBA-only client registers without redirect_uris and with "
                           "response_types [].",
            "properties": {
                "client_name": {"type": "string", "maxLength": 200},
                "redirect_uris": {"type": "array", "items": _URI, "maxItems": 20},
                "response_types": {"type": "array", "items": {"type": "string"}, "maxItems": 0,
                                   "description": "This server has no authorization endpoint: [] only."},
                "grant_types": {"type": "array", "minItems": 1,
                                "items": {"type": "string", "enum": [CIBA_GRANT, "refresh_token"]},
                                "default": [CIBA_GRANT],
                                "description": "A refresh token is issued when refresh_token is included."},
                "token_endpoint_auth_method": {"type": "string", "enum": list(AUTH_METHODS),
                                               "default": "client_secret_basic"},
                "token_endpoint_auth_signing_alg": {
                    "type": "string", "enum": list(ASSERTION_ALGS),
                    "description": "The assertion's alg: HS* for client_secret_jwt, the others for "
                                   "private_key_jwt."},
                **{name: {"type": "string", "minLength": 1, "maxLength": length,
                          "description": f"RFC 8705 2.1.2: for tls_client_auth, which requires exactly one of the "
                                         f"five tls_client_auth_* members. {what}"}
                   for name, length, what in (
                       ("tls_client_auth_subject_dn", 1000, "The certificate's subject DN, an RFC 4514 string "
                                                            "(compared attribute by attribute, case-insensitively)."),
                       ("tls_client_auth_san_dns", 253, "A dNSName of the certificate's subjectAltName."),
                       ("tls_client_auth_san_uri", 2000, "A uniformResourceIdentifier of its subjectAltName."),
                       ("tls_client_auth_san_ip", 45, "An iPAddress of its subjectAltName (IPv4 or IPv6)."),
                       ("tls_client_auth_san_email", 320, "An rfc822Name of its subjectAltName."))},
                "tls_client_certificate_bound_access_tokens": {
                    "type": "boolean", "default": False,
                    "description": "RFC 8705 3.4: access tokens bound to the client's TLS certificate (cnf.x5t#S256); "
                                   "every token request must then present it. Not for push clients."},
                "scope": {"type": "string", "maxLength": 1000,
                          "description": "Space-separated; must include openid. Default: every scope "
                                         f"supported ({' '.join(SCOPES_SUPPORTED)})."},
                "jwks": {**_ref("Jwks"), "description": "Public keys only; exclusive with jwks_uri."},
                "jwks_uri": {**_URI, "description": "https (http on loopback in development)."},
                "id_token_signed_response_alg": {"type": "string", "enum": algs, "default": "RS256"},
                "dpop_bound_access_tokens": {
                    "type": "boolean", "default": False,
                    "description": "RFC 9449 5.2: every token request must carry a DPoP proof. Not for push "
                                   "clients (pushed tokens are minted without a proof)."},
                "backchannel_token_delivery_mode": {"type": "string", "enum": list(DELIVERY_MODES),
                                                    "description": "Required for the CIBA grant."},
                "backchannel_client_notification_endpoint": {
                    **_URI, "description": "Required for ping and push: https, not in a private network."},
                "backchannel_authentication_request_signing_alg": {"type": "string", "enum": algs},
                "backchannel_user_code_parameter": {"type": "boolean", "default": False},
                "authorization_details_types": {
                    "type": "array", "maxItems": 100, "items": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": "RFC 9396 10: the authorization_details types the client uses; each must be in "
                                   "authorization_details_types_supported."},
                "contacts": {"type": "array", "items": {"type": "string"}, "maxItems": 20},
                "client_uri": _URI,
                "logo_uri": _URI,
                "policy_uri": _URI,
                "tos_uri": _URI,
                "software_id": {"type": "string", "maxLength": 200},
                "software_version": {"type": "string", "maxLength": 200},
            },
            "example": {"client_name": "Kiosk", "grant_types": [CIBA_GRANT, "refresh_token"],
                        "backchannel_token_delivery_mode": "poll"},
        },
        "ClientInformation": {
            "description": "The registered metadata, with the credentials (RFC 7591 3.2.1, RFC 7592 3). The "
                           "secret is shown once.",
            "allOf": [_ref("ClientConfiguration"), {"type": "object", "required": ["client_secret"],
                                                     "properties": {"client_secret": {"type": "string"}}}],
        },
        "ClientConfiguration": {
            "description": "The registered metadata and what the server assigned (RFC 7592 3), without "
                           "the secret.",
            "allOf": [_ref("ClientMetadata"), {
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
                "grant_type": {"type": "string", "enum": [CIBA_GRANT, "refresh_token"]},
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


def _headers() -> dict[str, Any]:
    return {
        "WWW-Authenticate-Basic": {"description": "The Basic challenge (RFC 6749 5.2).", "required": True,
                                   "schema": {"type": "string"}},
        "WWW-Authenticate-Bearer": {"description": "The Bearer challenge (RFC 6750 3).", "required": True,
                                    "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before trying again.", "required": True,
                        "schema": {"type": "integer", "minimum": 1}},
        "WWW-Authenticate-Resource": {"description": "The Bearer challenge (RFC 6750 3), or the DPoP challenge "
                                                     "(RFC 9449 7.1) for a DPoP-bound token or a DPoP proof.",
                                      "required": True, "schema": {"type": "string"}},
        "DPoP-Nonce": {"description": "While the server requires DPoP nonces: the nonce the next DPoP proof "
                                      "must carry (RFC 9449 8, 9).", "required": False,
                       "schema": {"type": "string"}},
    }


def _paths() -> dict[str, Any]:
    bc_authorize = {
        "summary": "Start a backchannel authentication request (CIBA Core 7).",
        "tags": ["ciba"],
        "security": _CLIENT_AUTH_SECURITY,
        "requestBody": {"required": True, "content": {FORM: {"schema": _ref("AuthenticationRequest")}}},
        "responses": {
            "200": {"description": "The request was accepted.", "content": _json(_ref("AuthenticationResponse"))},
            "400": _error("The request is invalid (CIBA Core 13).", [
                "invalid_request", "invalid_scope", "unknown_user_id", "expired_login_hint_token",
                "missing_user_code", "invalid_user_code", "invalid_binding_message", "unauthorized_client",
                "invalid_authorization_details"]),
            "401": _INVALID_CLIENT,
            "403": _error("CIBA is disabled on this server.", ["access_denied"]),
            "413": _TOO_LARGE,
            "429": _error("The client's rate limit or the user's pending-request cap was exceeded.", ["slow_down"],
                          {"Retry-After": _header("Retry-After")}),
        },
    }
    token = {
        "summary": "Exchange an auth_req_id or a refresh token for tokens (CIBA Core 10, RFC 6749 6).",
        "tags": ["ciba"],
        "security": _CLIENT_AUTH_SECURITY,
        "parameters": [{
            "name": "Prefer", "in": "header", "required": False,
            "description": "Long polling (RFC 7240): hold a pending CIBA poll up to N seconds "
                           "(at most cibaLongPollingMaxWaitSec).",
            "schema": {"type": "string", "pattern": "^wait=[0-9]{1,6}$"}, "example": "wait=30",
        }, _DPOP_PARAMETER],
        "requestBody": {"required": True, "content": {FORM: {"schema": _ref("TokenRequest")}}},
        "responses": {
            "200": {"description": "Tokens.", "content": _json(_ref("TokenResponse")),
                    "headers": {"DPoP-Nonce": _header("DPoP-Nonce")}},
            "400": _error("Not yet, or never (CIBA Core 11, RFC 6749 5.2); the DPoP proof is not valid, or "
                          "lacks the nonce DPoP-Nonce gives (RFC 9449 5, 8).", [
                "authorization_pending", "slow_down", "expired_token", "access_denied", "transaction_failed",
                "invalid_grant", "unauthorized_client", "unsupported_grant_type", "invalid_request",
                "invalid_scope", "invalid_dpop_proof", "use_dpop_nonce"], {"DPoP-Nonce": _header("DPoP-Nonce")}),
            "401": _INVALID_CLIENT,
            "413": _TOO_LARGE,
        },
    }
    userinfo_responses = {
        "200": {"description": "The user's claims.", "content": _json(_ref("UserInfo"))},
        "400": _error("The access token was sent in more than one place.", ["invalid_request"]),
        "401": _error("The access token is missing, invalid, expired or revoked; or it is DPoP-bound and "
                      "the DPoP proof is missing, not valid, or lacks the nonce DPoP-Nonce gives (RFC 9449 7).",
                      ["invalid_token", "invalid_dpop_proof", "use_dpop_nonce"],
                      {"WWW-Authenticate": _header("WWW-Authenticate-Resource"), "DPoP-Nonce": _header("DPoP-Nonce")}),
    }
    userinfo = {"tags": ["oidc"], "security": [{"bearer": []}, {"dpop": []}], "parameters": [_DPOP_PARAMETER],
                "responses": userinfo_responses}
    return {
        "/.well-known/openid-configuration": {"get": {
            "summary": "OpenID Provider metadata.", "tags": ["oidc"],
            "responses": {"200": {"description": "The metadata.", "content": _json(_ref("Discovery"))}},
        }},
        "/.well-known/oauth-authorization-server": {"get": {
            "summary": "Authorization server metadata (RFC 8414): the same document.", "tags": ["oidc"],
            "responses": {"200": {"description": "The metadata.", "content": _json(_ref("Discovery"))}},
        }},
        "/jwks": {"get": {
            "summary": "The public keys that sign ID tokens and access tokens.", "tags": ["oidc"],
            "responses": {"200": {"description": "A JWK Set.", "content": _json(_ref("Jwks"))}},
        }},
        "/register": {"post": {
            "summary": "Register a client (RFC 7591). With dynamicRegistrationInitialAccessToken set, send it "
                       "as a Bearer token.", "tags": ["oidc"],
            "requestBody": {"required": True, "content": _json(_ref("ClientMetadata"))},
            "responses": {
                "201": {"description": "The client is registered.", "content": _json(_ref("ClientInformation"))},
                "400": _error("The metadata is invalid.", ["invalid_client_metadata", "invalid_request"]),
                "401": _REGISTRATION_TOKEN,
                "403": _error("Dynamic registration is closed.", ["access_denied"]),
                "413": _TOO_LARGE,
            },
        }},
        "/register/{client_id}": {
            "parameters": [{"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "get": {"summary": "Read the client's registration (RFC 7592 2.1).", "tags": ["oidc"],
                    "security": [{"registration": []}],
                    "responses": {"200": {"description": "The registration.",
                                          "content": _json(_ref("ClientConfiguration"))},
                                  "400": _error("The token was sent in more than one place.", ["invalid_request"]),
                                  "401": _REGISTRATION_TOKEN}},
            "put": {"summary": "Replace the client's metadata (RFC 7592 2.2): the body must carry the client_id; "
                               "what it leaves out takes its default.", "tags": ["oidc"],
                    "security": [{"registration": []}],
                    "requestBody": {"required": True, "content": _json(_ref("ClientMetadata"))},
                    "responses": {"200": {"description": "The new registration.",
                                          "content": _json(_ref("ClientConfiguration"))},
                                  "400": _error("The metadata is invalid, or the client_id or client_secret is "
                                                "not the client's.", ["invalid_client_metadata", "invalid_request"]),
                                  "401": _REGISTRATION_TOKEN, "413": _TOO_LARGE}},
            "delete": {"summary": "Delete the client, its requests and tokens (RFC 7592 2.3).", "tags": ["oidc"],
                       "security": [{"registration": []}],
                       "responses": {"204": {"description": "Deleted."},
                                     "400": _error("The token was sent in more than one place.",
                                                   ["invalid_request"]),
                                     "401": _REGISTRATION_TOKEN}},
        },
        "/bc-authorize": {"post": bc_authorize},
        "/introspect": {"post": {
            "summary": "Describe an access or refresh token (RFC 7662): to the client it was issued to, or to "
                       "a client listed in introspectionResourceServers.", "tags": ["oidc"],
            "security": _CLIENT_AUTH_SECURITY,
            "requestBody": {"required": True, "content": {FORM: {"schema": _ref("RevocationRequest")}}},
            "responses": {
                "200": {"description": "The token's description.", "content": _json(_ref("Introspection"))},
                "400": _error("The request is malformed.", ["invalid_request"]),
                "401": _INVALID_CLIENT,
                "413": _TOO_LARGE,
            },
        }},
        "/revoke": {"post": {
            "summary": "Revoke an access token or a refresh token (RFC 7009). The answer is 200 whether or "
                       "not the token was known.", "tags": ["oidc"], "security": _CLIENT_AUTH_SECURITY,
            "requestBody": {"required": True, "content": {FORM: {"schema": _ref("RevocationRequest")}}},
            "responses": {
                "200": {"description": "Revoked, or nothing to revoke."},
                "400": _error("The request is malformed.", ["invalid_request"]),
                "401": _INVALID_CLIENT,
                "413": _TOO_LARGE,
            },
        }},
        "/token": {"post": token},
        "/userinfo": {
            "get": {"summary": "The user's claims (OIDC Core 5.3).", **userinfo},
            "post": {"summary": "The user's claims (OIDC Core 5.3); the body is ignored.", **userinfo},
        },
        "/bc-deviceRegistration": {"post": {
            "summary": "Register the push token of the user's authentication device (clients listed in "
                       "backchannelDeviceRegistrationClients only).", "tags": ["ciba"],
            "security": _CLIENT_AUTH_SECURITY,
            "requestBody": {"required": True, "content": {FORM: {"schema": _ref("DeviceRegistrationRequest")}}},
            "responses": {
                "200": {"description": "The device is registered (again).",
                        "content": _json(_ref("DeviceRegistrationResponse"))},
                "400": _error("A parameter is missing, the hint was issued to another client, or it names "
                              "no user.", ["invalid_request", "unknown_user_id"]),
                "401": _INVALID_CLIENT,
                "403": _error("CIBA is disabled on this server, or the client may not register devices.",
                              ["access_denied", "unauthorized_client"]),
                "413": _TOO_LARGE,
            },
        }},
        "/health/live": {"get": {
            "summary": "Liveness.", "tags": ["health"],
            "responses": {"200": {"description": "The process answers.", "content": _json(_ref("Health"))}},
        }},
        "/health/ready": {"get": {
            "summary": "Readiness: Postgres answers, the LISTEN connection is up, every side task runs.",
            "tags": ["health"],
            "responses": {
                "200": {"description": "Ready.", "content": _json(_ref("Health"))},
                "503": {"description": "A check fails; checks names it.", "content": _json(_ref("Health"))},
            },
        }},
    }


def document(issuer: str) -> dict[str, Any]:
    """The OpenAPI document of the gateway whose issuer (and base URL) is ``issuer``."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "CIBA authorization server",
            "version": "1",
            "description": "OpenID Connect Client Initiated Backchannel Authentication (CIBA Core 1.0). "
                           "Errors are JSON objects with error and error_description.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": issuer}],
        "tags": [{"name": "oidc"}, {"name": "ciba"}, {"name": "health"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "headers": _headers(),
            "securitySchemes": {
                "clientBasic": {"type": "http", "scheme": "basic",
                                "description": "client_secret_basic: client_id and client_secret, each "
                                               "form-urlencoded (RFC 6749 2.3.1). Other methods use the "
                                               "form fields client_id, client_secret, client_assertion; "
                                               "tls_client_auth and self_signed_tls_client_auth the form field "
                                               "client_id and the TLS client certificate (RFC 8705)."},
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                           "description": "An access token from /token (RFC 6750)."},
                "dpop": {"type": "http", "scheme": "dpop",
                         "description": "A DPoP-bound access token (Authorization: DPoP), with a DPoP proof in the "
                                        "DPoP header (RFC 9449 7)."},
                "registration": {"type": "http", "scheme": "bearer",
                                 "description": "The registration_access_token /register answered (RFC 7592)."},
            },
        },
    }


async def handle(request: web.Request) -> web.Response:
    return web.json_response(document(gateway(request).issuer),
                             headers={"Cache-Control": "public, max-age=300"})
