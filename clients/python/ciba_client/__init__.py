"""ciba-client: a relying party's side of OpenID Connect CIBA (Client Initiated Backchannel
Authentication Core 1.0), typed and asyncio-based, with a thin synchronous wrapper.

    async with await CibaClient.discover(issuer, client_id=..., auth=ClientSecretBasic(secret)) as client:
        request = await client.start(login_hint="alice@example.com", binding_message="Kiosk 7Q")
        tokens = await request.wait()
        print(tokens.claims["sub"])
"""

from ciba_client.auth import ClientAuth, ClientSecretBasic, ClientSecretJwt, ClientSecretPost, PrivateKeyJwt
from ciba_client.callbacks import PushResult, ping_handler, push_handler
from ciba_client.client import CibaClient, CibaRequest
from ciba_client.discovery import DiscoveryError, ProviderMetadata, fetch_metadata
from ciba_client.errors import (
    ERRORS,
    AccessDenied,
    AuthorizationPending,
    CibaError,
    ExpiredLoginHintToken,
    ExpiredToken,
    InvalidAuthorizationDetails,
    InvalidBindingMessage,
    InvalidClient,
    InvalidClientMetadata,
    InvalidDpopProof,
    InvalidGrant,
    InvalidIdToken,
    InvalidRequest,
    InvalidScope,
    InvalidToken,
    InvalidUserCode,
    KeysUnavailable,
    MissingUserCode,
    ServerError,
    SlowDown,
    TemporarilyUnavailable,
    TransactionFailed,
    UnauthorizedClient,
    UnexpectedResponse,
    UnknownUserId,
    UnsupportedGrantType,
    UseDpopNonce,
    error_for,
)
from ciba_client.keys import ClientKey
from ciba_client.registration import ClientRegistration, ciba_client_metadata, register_client
from ciba_client.sync import SyncCibaClient
from ciba_client.tokens import AUTH_REQ_ID_CLAIM, TokenResponse, half_hash

__all__ = [
    "AUTH_REQ_ID_CLAIM", "ERRORS", "AccessDenied", "AuthorizationPending", "CibaClient", "CibaError", "CibaRequest",
    "ClientAuth", "ClientKey", "ClientRegistration", "ClientSecretBasic", "ClientSecretJwt", "ClientSecretPost",
    "DiscoveryError", "ExpiredLoginHintToken", "ExpiredToken", "InvalidAuthorizationDetails", "InvalidBindingMessage",
    "InvalidClient",
    "InvalidClientMetadata", "InvalidGrant", "InvalidIdToken", "InvalidRequest", "InvalidScope", "InvalidToken",
    "InvalidUserCode", "KeysUnavailable", "MissingUserCode", "PrivateKeyJwt", "ProviderMetadata", "PushResult",
    "ServerError", "SlowDown", "SyncCibaClient", "TemporarilyUnavailable", "TokenResponse", "TransactionFailed",
    "UnauthorizedClient", "UnexpectedResponse", "UnknownUserId", "UnsupportedGrantType", "ciba_client_metadata",
    "InvalidDpopProof", "UseDpopNonce",
    "error_for", "fetch_metadata", "half_hash", "ping_handler", "push_handler", "register_client",
]
