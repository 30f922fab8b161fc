"""What is sent to the client notification endpoint (CIBA Core 10.2 and 10.3).

- ping: ``{"auth_req_id": ...}``; the client then calls /token.
- push, approved: the token response plus ``auth_req_id``, minted once. The id_token carries
  ``urn:openid:params:jwt:claim:auth_req_id``, ``at_hash`` and ``rt_hash`` (10.3.1). The
  payload is kept encrypted until the push succeeds or is given up, so a retried push
  carries the same tokens and no second set of live tokens exists for one request.
- push, denied / expired / failed: ``{"error", "error_description", "auth_req_id"}`` (10.3.2)
  with access_denied, expired_token or transaction_failed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from shared.bus.consumer import GiveUp
from shared.config.model import ServerConfig
from shared.crypto import Secrets
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import TokenSet
from shared.errors import AccessDenied, ExpiredToken, ProtocolError, TransactionFailed
from shared.events import AnyEvent, AuthRequestDecided, AuthRequestExpired, AuthRequestFailed
from shared.repositories.clients import Client


class PushTokens(Protocol):
    """Where the tokens of a push are minted and kept (services.token_delivery.stores)."""

    async def issue(self, request: AuthRequest, client: Client, *, config: ServerConfig, now: datetime,
                    auth_req_id: str) -> TokenSet | None:
        """Mint the tokens and keep the payload encrypted on the request, atomically; None when
        another delivery of the request minted them first."""
        ...

    async def kept_payload(self, request_id: UUID) -> str | None:
        """The encrypted payload kept on the request, if the request and the payload remain."""
        ...


def ping(auth_req_id: str) -> dict[str, Any]:
    return {"auth_req_id": auth_req_id}


def _outcome(event: AnyEvent) -> ProtocolError:
    """The error the client is told, from the error catalogue: the same classes, codes and
    descriptions as a poll of /token gets (services.gateway.grants.ciba)."""
    match event:
        case AuthRequestDecided(decision="denied"):
            return AccessDenied("the user denied the request")
        case AuthRequestExpired():
            return ExpiredToken("the request expired before the user decided")
        case AuthRequestFailed():
            return TransactionFailed(lifecycle.failure_for_client(event.reason))
        case _:
            raise ValueError(f"no push error for {type(event).__name__}")


def push_error(event: AnyEvent, auth_req_id: str) -> dict[str, Any]:
    """CIBA 10.3.2: the error body, with ``error_description`` always present."""
    return {"error_description": "", **_outcome(event).body(), "auth_req_id": auth_req_id}


async def push_tokens(tokens: PushTokens, secrets: Secrets, request: AuthRequest, client: Client,
                      auth_req_id: str, *, config: ServerConfig, now: datetime) -> dict[str, Any]:
    """The push token payload: the kept one on a retry, else mint and keep it atomically."""
    if request.push_payload_enc:
        return _kept(secrets, request.push_payload_enc)
    token_set = await tokens.issue(request, client, config=config, now=now, auth_req_id=auth_req_id)
    if token_set is not None:
        return {**token_set.as_response(), "auth_req_id": auth_req_id}
    kept = await tokens.kept_payload(request.id)  # another delivery minted them first
    if kept is None:
        raise GiveUp("tokens were already issued and are no longer held for delivery")
    return _kept(secrets, kept)


def _kept(secrets: Secrets, payload_enc: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(secrets.decrypt(payload_enc))
    return payload
