"""The operations of the public API: what each takes and answers. Its error responses come from
its endpoint module's ERRORS (see responses.py), never from a list kept here."""

from __future__ import annotations

from typing import Any

from services.gateway.endpoints import (
    bc_authorize,
    client_configuration,
    device_registration,
    introspection,
    register,
    revocation,
    token,
    userinfo,
)
from services.gateway.endpoints.openapi.responses import json_content, ref, with_errors
from shared.errors import Errors

FORM = "application/x-www-form-urlencoded"
_CLIENT_AUTH_SECURITY: list[dict[str, list[str]]] = [{"clientBasic": []}, {}]
_REGISTRATION_SECURITY: list[dict[str, list[str]]] = [{"registration": []}]
_DPOP_PARAMETER = {
    "name": "DPoP", "in": "header", "required": False,
    "description": "A DPoP proof (RFC 9449 4): a JWT with typ dpop+jwt, signed by the client's key (in its jwk "
                   "header), for this method and URL. At /token it binds the access token to the key; at "
                   "/userinfo it is required with a DPoP-bound token, with ath.",
    "schema": {"type": "string"},
}
_PREFER_PARAMETER = {
    "name": "Prefer", "in": "header", "required": False,
    "description": "Long polling (RFC 7240): hold a pending CIBA poll up to N seconds (at most "
                   "cibaLongPollingMaxWaitSec).",
    "schema": {"type": "string", "pattern": "^wait=[0-9]{1,6}$"}, "example": "wait=30",
}
_REGISTRATION_TOKEN = "The registration access token is missing, or not valid for this client."


def _ok(description: str, schema: str, status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": json_content(ref(schema))}}


def _form(schema: str) -> dict[str, Any]:
    return {"required": True, "content": {FORM: {"schema": ref(schema)}}}


def _metadata_body() -> dict[str, Any]:
    return {"required": True, "content": json_content(ref("ClientMetadata"))}


def _bc_authorize() -> dict[str, Any]:
    return {
        "summary": "Start a backchannel authentication request (CIBA Core 7).", "tags": ["ciba"],
        "security": _CLIENT_AUTH_SECURITY, "requestBody": _form("AuthenticationRequest"),
        "responses": with_errors(_ok("The request was accepted.", "AuthenticationResponse"), bc_authorize.ERRORS, {
            400: "The request is invalid (CIBA Core 13).",
            403: "CIBA is disabled on this server.",
            429: "The client's rate limit or the user's pending-request cap was exceeded, or the server is busy "
                 "checking user codes."}),
    }


def _token() -> dict[str, Any]:
    tokens = {"200": {"description": "Tokens.", "content": json_content(ref("TokenResponse")),
                      "headers": {"DPoP-Nonce": {"$ref": "#/components/headers/DPoP-Nonce"}}}}
    return {
        "summary": "Exchange an auth_req_id or a refresh token for tokens (CIBA Core 10, RFC 6749 6).",
        "tags": ["ciba"], "security": _CLIENT_AUTH_SECURITY, "parameters": [_PREFER_PARAMETER, _DPOP_PARAMETER],
        "requestBody": _form("TokenRequest"),
        "responses": with_errors(tokens, token.ERRORS, {
            400: "Not yet, or never (CIBA Core 11, RFC 6749 5.2); or the DPoP proof is not valid, or lacks the nonce "
                 "DPoP-Nonce gives (RFC 9449 5, 8)."}),
    }


def _userinfo(summary: str) -> dict[str, Any]:
    return {
        "summary": summary, "tags": ["oidc"], "security": [{"bearer": []}, {"dpop": []}],
        "parameters": [_DPOP_PARAMETER],
        "responses": with_errors(_ok("The user's claims.", "UserInfo"), userinfo.ERRORS, {
            401: "The access token is missing, invalid, expired or revoked; or it is DPoP-bound and the DPoP proof "
                 "is missing, not valid, or lacks the nonce DPoP-Nonce gives (RFC 9449 7)."}),
    }


def _client_configuration() -> dict[str, Any]:
    errors, notes = client_configuration.ERRORS, {401: _REGISTRATION_TOKEN}
    return {
        "parameters": [{"name": "client_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "get": {"summary": "Read the client's registration (RFC 7592 2.1).", "tags": ["oidc"],
                "security": _REGISTRATION_SECURITY,
                "responses": with_errors(_ok("The registration.", "ClientConfiguration"), errors, notes)},
        "put": {"summary": "Replace the client's metadata (RFC 7592 2.2): the body must carry the client_id; what "
                           "it leaves out takes its default.", "tags": ["oidc"],
                "security": _REGISTRATION_SECURITY, "requestBody": _metadata_body(),
                "responses": with_errors(_ok("The new registration.", "ClientConfiguration"), errors, {
                    **notes, 400: "The metadata is invalid, or the client_id or client_secret is not the "
                                  "client's."})},
        "delete": {"summary": "Delete the client, its requests and tokens (RFC 7592 2.3).", "tags": ["oidc"],
                   "security": _REGISTRATION_SECURITY,
                   "responses": with_errors({"204": {"description": "Deleted."}}, errors, notes)},
    }


def _client_authenticated(summary: str, body: str, successes: dict[str, Any], errors: Errors,
                          notes: dict[int, str] | None = None, tag: str = "oidc") -> dict[str, Any]:
    return {"summary": summary, "tags": [tag], "security": _CLIENT_AUTH_SECURITY, "requestBody": _form(body),
            "responses": with_errors(successes, errors, notes)}


def _public(summary: str, tag: str, successes: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "tags": [tag], "responses": with_errors(successes, ())}}


def paths() -> dict[str, Any]:
    metadata = _ok("The metadata.", "Discovery")
    return {
        "/.well-known/openid-configuration": _public("OpenID Provider metadata.", "oidc", metadata),
        "/.well-known/oauth-authorization-server": _public(
            "Authorization server metadata (RFC 8414): the same document.", "oidc", metadata),
        "/jwks": _public("The public keys that sign ID tokens and access tokens.", "oidc", _ok("A JWK Set.", "Jwks")),
        "/register": {"post": {
            "summary": "Register a client (RFC 7591). With dynamicRegistrationInitialAccessToken set, send it as a "
                       "Bearer token.", "tags": ["oidc"], "requestBody": _metadata_body(),
            "responses": with_errors(_ok("The client is registered.", "ClientInformation", "201"), register.ERRORS, {
                400: "The metadata is invalid.", 401: "The initial access token is missing or not valid.",
                403: "Dynamic registration is closed."}),
        }},
        "/register/{client_id}": _client_configuration(),
        "/bc-authorize": {"post": _bc_authorize()},
        "/introspect": {"post": _client_authenticated(
            "Describe an access or refresh token (RFC 7662): to the client it was issued to, or to a client listed "
            "in introspectionResourceServers.", "RevocationRequest",
            _ok("The token's description.", "Introspection"), introspection.ERRORS)},
        "/revoke": {"post": _client_authenticated(
            "Revoke an access token or a refresh token (RFC 7009). The answer is 200 whether or not the token was "
            "known.", "RevocationRequest", {"200": {"description": "Revoked, or nothing to revoke."}},
            revocation.ERRORS)},
        "/token": {"post": _token()},
        "/userinfo": {"get": _userinfo("The user's claims (OIDC Core 5.3)."),
                      "post": _userinfo("The user's claims (OIDC Core 5.3); the body is ignored.")},
        "/bc-deviceRegistration": {"post": _client_authenticated(
            "Register the push token of the user's authentication device (clients listed in "
            "backchannelDeviceRegistrationClients only).", "DeviceRegistrationRequest",
            _ok("The device is registered (again).", "DeviceRegistrationResponse"), device_registration.ERRORS, {
                400: "A parameter is missing, the hint was issued to another client, or it names no user.",
                403: "CIBA is disabled on this server, or the client may not register devices."}, tag="ciba")},
        "/health/live": _public("Liveness.", "health", _ok("The process answers.", "Health")),
        "/health/ready": _public("Readiness: Postgres answers, the LISTEN connection is up, every side task runs.",
                                 "health", {**_ok("Ready.", "Health"),
                                            "503": {"description": "A check fails; checks names it.",
                                                    "content": json_content(ref("Health"))}}),
    }
