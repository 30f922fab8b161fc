"""Client metadata (RFC 7591 2, OIDC Registration 2, CIBA Core 4) and its rules: what
/register, its RFC 7592 configuration endpoint and `ciba-admin client` accept alike.

A CIBA-only client registers without redirect_uris and with ``response_types: []``. Unknown
metadata is ignored (RFC 7591 2).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared.config.model import AuthorizationDetailsType, ServerConfig, describe_validation_error
from shared.domain import client_certificates, fapi_ciba
from shared.domain.auth_request import DeliveryMode
from shared.domain.claims import SCOPES_SUPPORTED
from shared.domain.grant_types import CIBA_GRANT, SUPPORTED_GRANT_TYPES
from shared.errors import Errors, InvalidClientMetadata
from shared.jose.keys import SUPPORTED_SIGNING_ALGS
from shared.outbound import AddressPolicy, literal_address_refused
from shared.repositories.clients import Client
from shared.urls import check_callback_url

# RFC 8705 2: client authentication by the client's TLS certificate (services/gateway/mtls.py).
MTLS_AUTH_METHODS = ("tls_client_auth", "self_signed_tls_client_auth")
SUPPORTED_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt",
                          *MTLS_AUTH_METHODS)
HMAC_ALGS = ("HS256", "HS384", "HS512")
ASYMMETRIC_ALGS = SUPPORTED_SIGNING_ALGS  # RS256, PS256, ES256
ERRORS: Errors = (InvalidClientMetadata,)  # fapi_ciba's registration checks' too


class ClientMetadata(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    client_name: str | None = Field(default=None, max_length=200)
    redirect_uris: list[str] = Field(default_factory=list, max_length=20)
    response_types: list[str] = Field(default_factory=list)
    grant_types: list[str] = Field(default_factory=lambda: [CIBA_GRANT], min_length=1)
    token_endpoint_auth_method: str = "client_secret_basic"
    token_endpoint_auth_signing_alg: str | None = None
    # RFC 8705 2.1.2: how a tls_client_auth client's certificate names it (exactly one).
    tls_client_auth_subject_dn: str | None = Field(default=None, max_length=1000)
    tls_client_auth_san_dns: str | None = Field(default=None, max_length=253)
    tls_client_auth_san_uri: str | None = Field(default=None, max_length=2000)
    tls_client_auth_san_ip: str | None = Field(default=None, max_length=45)
    tls_client_auth_san_email: str | None = Field(default=None, max_length=320)
    # RFC 8705 3.4: access tokens bound to the client's certificate (cnf.x5t#S256).
    tls_client_certificate_bound_access_tokens: bool = False
    scope: str | None = Field(default=None, max_length=1000)
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = Field(default=None, max_length=2000)
    id_token_signed_response_alg: str = "RS256"
    # RFC 9449 5.2: every token request of the client must carry a DPoP proof.
    dpop_bound_access_tokens: bool = False
    backchannel_token_delivery_mode: DeliveryMode | None = None
    backchannel_client_notification_endpoint: str | None = Field(default=None, max_length=2000)
    backchannel_authentication_request_signing_alg: str | None = None
    backchannel_user_code_parameter: bool = False
    # RFC 9396 10: the authorization_details types the client uses at /bc-authorize.
    authorization_details_types: list[AuthorizationDetailsType] | None = Field(default=None, max_length=100)
    # This client alone follows the FAPI-CIBA profile (shared/domain/fapi_ciba.py).
    fapi_ciba: bool = False
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
        if value not in ([], ["none"]):  # ["none"]: what discovery lists, and the same as []
            raise ValueError("this server has no authorization endpoint: use [] (or [\"none\"])")
        return []

    @field_validator("token_endpoint_auth_method")
    @classmethod
    def _auth_method(cls, value: str) -> str:
        if value not in SUPPORTED_AUTH_METHODS:
            raise ValueError(f"must be one of {list(SUPPORTED_AUTH_METHODS)}"
                             " (public clients cannot use CIBA)")
        return value

    @field_validator("tls_client_auth_subject_dn")
    @classmethod
    def _subject_dn(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                client_certificates.check_dn(value)
            except ValueError as exc:
                raise ValueError(f"is not an RFC 4514 distinguished name: {exc}") from None
        return value

    @field_validator("tls_client_auth_san_ip")
    @classmethod
    def _san_ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError("is not an IPv4 or IPv6 address") from None
        return value

    @field_validator("tls_client_auth_san_dns", "tls_client_auth_san_uri", "tls_client_auth_san_email")
    @classmethod
    def _not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("must not be empty")
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
        if self.token_endpoint_auth_method in ("private_key_jwt", "self_signed_tls_client_auth") and not has_keys:
            raise ValueError(f"{self.token_endpoint_auth_method} needs jwks or jwks_uri")
        identities = [name for name in client_certificates.IDENTITY_FIELDS if getattr(self, name) is not None]
        if self.token_endpoint_auth_method == "tls_client_auth" and len(identities) != 1:
            raise ValueError("tls_client_auth needs exactly one of " + ", ".join(client_certificates.IDENTITY_FIELDS)
                             + (f" (given: {', '.join(identities)})" if identities else ""))
        if self.token_endpoint_auth_method != "tls_client_auth":
            for name in identities:  # meaningless for another method (left over from one, say): dropped
                setattr(self, name, None)
        push = self.backchannel_token_delivery_mode == DeliveryMode.PUSH
        if self.tls_client_certificate_bound_access_tokens and push:
            # Pushed tokens are minted without a request of the client, so without its certificate.
            raise ValueError("tls_client_certificate_bound_access_tokens: push clients receive their tokens "
                             "without presenting a certificate; use poll or ping")
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
        if self.backchannel_token_delivery_mode in (DeliveryMode.PING, DeliveryMode.PUSH) and \
                not self.backchannel_client_notification_endpoint:
            raise ValueError("backchannel_client_notification_endpoint is required for ping and push")
        if self.dpop_bound_access_tokens and push:
            # Pushed tokens are minted without a request of the client, so without a DPoP proof.
            raise ValueError("dpop_bound_access_tokens: push clients receive their tokens without a DPoP proof; "
                             "use poll or ping")
        return self


def scopes_of(metadata: ClientMetadata) -> list[str]:
    if metadata.scope is None:
        return list(SCOPES_SUPPORTED)
    scopes = list(dict.fromkeys(metadata.scope.split()))
    unknown = [s for s in scopes if s not in SCOPES_SUPPORTED]
    if unknown:
        raise InvalidClientMetadata(f"scope: unsupported scope(s) {' '.join(unknown)}")
    if "openid" not in scopes:
        raise InvalidClientMetadata("scope: must include openid")
    return scopes


def check_against_server(metadata: ClientMetadata, config: ServerConfig, development: bool) -> None:
    fapi_ciba.check_registration(metadata, config)
    unsupported = [t for t in metadata.authorization_details_types or []
                   if t not in config.authorizationDetailsTypesSupported]
    if unsupported:
        raise InvalidClientMetadata(f"authorization_details_types: not supported by this server: "
                                    f"{' '.join(unsupported)[:200]}")
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



def client_from(metadata: ClientMetadata, config: ServerConfig, *, development: bool, client_id: str,
                secret_hash: bytes | None, secret_enc: str | None, created_at: datetime) -> Client:
    """The client ``metadata`` describes, checked against the server's configuration."""
    scopes = scopes_of(metadata)
    check_against_server(metadata, config, development)
    public = metadata.model_dump(exclude_none=True)
    public["scope"] = " ".join(scopes)
    return Client(
        client_id=client_id, client_secret_hash=secret_hash,
        client_name=metadata.client_name,
        token_endpoint_auth_method=metadata.token_endpoint_auth_method,
        grant_types=metadata.grant_types, scope=scopes,
        backchannel_token_delivery_mode=metadata.backchannel_token_delivery_mode,
        backchannel_client_notification_endpoint=metadata.backchannel_client_notification_endpoint,
        backchannel_authentication_request_signing_alg=metadata.backchannel_authentication_request_signing_alg,
        backchannel_user_code_parameter=metadata.backchannel_user_code_parameter,
        id_token_signed_response_alg=metadata.id_token_signed_response_alg,
        metadata=public, created_at=created_at, client_secret_enc=secret_enc,
        token_endpoint_auth_signing_alg=metadata.token_endpoint_auth_signing_alg,
    )


def parse(raw: object) -> ClientMetadata:
    """Client metadata from a decoded JSON body or file; InvalidClientMetadata when it is not."""
    if not isinstance(raw, dict):
        raise InvalidClientMetadata("the client metadata must be a JSON object")
    try:
        return ClientMetadata.model_validate(raw)
    except ValidationError as exc:
        raise InvalidClientMetadata(describe_validation_error(exc)) from None
