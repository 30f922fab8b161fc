"""POST /register: dynamic client registration (RFC 7591) with the CIBA metadata of CIBA
Core 4 (backchannel_token_delivery_mode, backchannel_client_notification_endpoint,
backchannel_authentication_request_signing_alg, backchannel_user_code_parameter).

A CIBA-only client registers without redirect_uris and with ``response_types: []``. Unknown
metadata is ignored (RFC 7591 2). The client secret is returned once and stored as a keyed hash.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from services.gateway.client_auth import ASYMMETRIC_ALGS, HMAC_ALGS, SUPPORTED_AUTH_METHODS
from services.gateway.context import Gateway, gateway
from services.gateway.middleware import NO_STORE
from shared.config.model import ServerConfig, describe_validation_error
from shared.crypto import new_token
from shared.domain.claims import SCOPES_SUPPORTED
from shared.errors import AccessDenied, InvalidClientMetadata, InvalidRequest
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.outbound import AddressPolicy, literal_address_refused
from shared.repositories import clients as clients_repo
from shared.repositories.clients import CIBA_GRANT, Client
from shared.urls import check_callback_url

PATH = "/register"
SUPPORTED_GRANT_TYPES = (CIBA_GRANT, "refresh_token")


class ClientMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    client_name: str | None = Field(default=None, max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    response_types: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(default_factory=lambda: [CIBA_GRANT], min_length=1)
    token_endpoint_auth_method: str = "client_secret_basic"
    token_endpoint_auth_signing_alg: str | None = None
    scope: str | None = Field(default=None, max_length=1000)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(default=None, max_length=2000)
    id_token_signed_response_alg: str = "RS256"
    backchannel_token_delivery_mode: Literal["poll", "ping", "push"] | None = None
    backchannel_client_notification_endpoint: str | None = Field(default=None, max_length=2000)
    backchannel_authentication_request_signing_alg: str | None = None
    backchannel_user_code_parameter: bool = False
    contacts: list[str] = Field(default_factory=list, max_length=20)
    client_uri: str | None = Field(default=None, max_length=2000)
    logo_uri: str | None = Field(default=None, max_length=2000)
    policy_uri: str | None = Field(default=None, max_length=2000)
    tos_uri: str | None = Field(default=None, max_length=2000)
    software_id: str | None = Field(default=None, max_length=200)
    software_version: str | None = Field(default=None, max_length=200)

    @field_validator("grant_types")
    @classmethod
    def _known_grants(cls, value: list[str]) -> list[str]:
        unknown = [g for g in value if g not in SUPPORTED_GRANT_TYPES]
        if unknown:
            raise ValueError(f"unsupported grant type(s) {unknown}; supported: {list(SUPPORTED_GRANT_TYPES)}")
        return list(dict.fromkeys(value))

    @field_validator("response_types")
    @classmethod
    def _no_response_types(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError("this server has no authorization endpoint: use []")
        return value

    @field_validator("token_endpoint_auth_method")
    @classmethod
    def _auth_method(cls, value: str) -> str:
        if value not in SUPPORTED_AUTH_METHODS:
            raise ValueError(f"must be one of {list(SUPPORTED_AUTH_METHODS)}"
                             " (public clients cannot use CIBA)")
        return value

    @field_validator("id_token_signed_response_alg", "backchannel_authentication_request_signing_alg")
    @classmethod
    def _alg(cls, value: str | None) -> str | None:
        if value is not None and value not in SUPPORTED_SIGNING_ALGS:
            raise ValueError(f"must be one of {list(SUPPORTED_SIGNING_ALGS)}")
        return value

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            KeySet.import_key_set(value)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"is not a valid JWK Set: {exc}") from None
        if any("d" in key for key in value.get("keys", [])):
            raise ValueError("must hold public keys only")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ClientMetadata:
        if self.jwks is not None and self.jwks_uri is not None:
            raise ValueError("jwks and jwks_uri are mutually exclusive")
        has_keys = self.jwks is not None or self.jwks_uri is not None
        if self.token_endpoint_auth_method == "private_key_jwt" and not has_keys:
            raise ValueError("private_key_jwt needs jwks or jwks_uri")
        if self.backchannel_authentication_request_signing_alg is not None and not has_keys:
            raise ValueError("backchannel_authentication_request_signing_alg needs jwks or jwks_uri")
        alg = self.token_endpoint_auth_signing_alg
        if alg is not None:
            allowed = {"client_secret_jwt": HMAC_ALGS, "private_key_jwt": ASYMMETRIC_ALGS}.get(
                self.token_endpoint_auth_method, ())
            if alg not in allowed:
                raise ValueError(f"token_endpoint_auth_signing_alg {alg} does not fit "
                                 f"{self.token_endpoint_auth_method}")
        if CIBA_GRANT in self.grant_types and self.backchannel_token_delivery_mode is None:
            raise ValueError("backchannel_token_delivery_mode is required for the CIBA grant")
        if self.backchannel_token_delivery_mode in ("ping", "push") and \
                not self.backchannel_client_notification_endpoint:
            raise ValueError("backchannel_client_notification_endpoint is required for ping and push")
        return self


def _scopes(metadata: ClientMetadata) -> list[str]:
    if metadata.scope is None:
        return list(SCOPES_SUPPORTED)
    scopes = list(dict.fromkeys(metadata.scope.split()))
    unknown = [s for s in scopes if s not in SCOPES_SUPPORTED]
    if unknown:
        raise InvalidClientMetadata(f"scope: unsupported scope(s) {' '.join(unknown)}")
    if "openid" not in scopes:
        raise InvalidClientMetadata("scope: must include openid")
    return scopes


def _check_against_server(metadata: ClientMetadata, config: ServerConfig, development: bool) -> None:
    mode = metadata.backchannel_token_delivery_mode
    if mode is not None and mode not in config.backchannelTokenDeliveryModesSupported:
        raise InvalidClientMetadata(f"backchannel_token_delivery_mode: {mode} is not enabled on this server")
    endpoint = metadata.backchannel_client_notification_endpoint
    policy = AddressPolicy(allow_private=config.notificationEndpointAllowPrivateNetworks, allow_loopback=development)
    if endpoint is not None:
        problem = check_callback_url(endpoint, development=development)
        if problem:
            raise InvalidClientMetadata(f"backchannel_client_notification_endpoint {problem}")
        if literal_address_refused(endpoint, policy):
            raise InvalidClientMetadata("backchannel_client_notification_endpoint must not point into a "
                                        "private, loopback or link-local network")
    alg = metadata.backchannel_authentication_request_signing_alg
    if alg is not None and alg not in config.backchannelAuthenticationRequestSigningAlgValuesSupported:
        raise InvalidClientMetadata(f"backchannel_authentication_request_signing_alg: {alg} is not accepted")
    if metadata.jwks_uri is not None:
        if check_callback_url(metadata.jwks_uri, development=development):
            raise InvalidClientMetadata("jwks_uri must be an https URL")
        if literal_address_refused(metadata.jwks_uri, policy):
            raise InvalidClientMetadata("jwks_uri must not point into a private, loopback or link-local network")


async def _read_metadata(request: web.Request) -> ClientMetadata:
    if request.content_type != "application/json":
        raise InvalidRequest("the request body must be application/json")
    try:
        raw = json.loads(await request.read())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidClientMetadata("the request body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise InvalidClientMetadata("the request body must be a JSON object")
    try:
        return ClientMetadata.model_validate(raw)
    except ValidationError as exc:
        raise InvalidClientMetadata(describe_validation_error(exc)) from None


async def register(gw: Gateway, metadata: ClientMetadata, now: datetime) -> dict[str, Any]:
    scopes = _scopes(metadata)
    _check_against_server(metadata, gw.rt.config, gw.rt.settings.development)
    client_id = new_token(16)
    client_secret = new_token(32)
    public = metadata.model_dump(exclude_none=True)
    public["scope"] = " ".join(scopes)
    client = Client(
        client_id=client_id, client_secret_hash=gw.rt.secrets.hash(client_secret),
        client_name=metadata.client_name,
        token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        grant_types=metadata.grant_types, scope=scopes,
        backchannel_token_delivery_mode=metadata.backchannel_token_delivery_mode,
        backchannel_client_notification_endpoint=metadata.backchannel_client_notification_endpoint,
        backchannel_authentication_request_signing_alg=metadata.backchannel_authentication_request_signing_alg,
        backchannel_user_code_parameter=metadata.backchannel_user_code_parameter,
        id_token_signed_response_alg=metadata.id_token_signed_response_alg,
        metadata=public, created_at=now,
        # client_secret_jwt verifies an HMAC keyed with the secret: keep it, encrypted.
        client_secret_enc=(gw.rt.secrets.encrypt(client_secret)
                           if metadata.token_endpoint_auth_method == "client_secret_jwt" else None),
        token_endpoint_auth_signing_alg=metadata.token_endpoint_auth_signing_alg,
    )
    async with gw.rt.pool.acquire() as conn:
        await clients_repo.insert(conn, client)
    return {
        **public,
        "client_id": client_id,
        "client_secret": client_secret,
        "client_id_issued_at": int(now.timestamp()),
        "client_secret_expires_at": 0,
    }


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    if not gw.rt.config.dynamicRegistrationEnabled:
        raise AccessDenied("dynamic registration is closed on this server", status=403)
    metadata = await _read_metadata(request)
    body = await register(gw, metadata, gw.rt.clock.now())
    return web.json_response(body, status=201, headers=NO_STORE)
