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
from typing import Any

from shared.bus.consumer import GiveUp
from shared.domain import lifecycle
from shared.domain.auth_request import AuthRequest
from shared.domain.token_issuance import Minter, issue_for_request
from shared.errors import AccessDenied, ExpiredToken, ProtocolError, TransactionFailed
from shared.events import AnyEvent, AuthRequestDecided, AuthRequestExpired, AuthRequestFailed
from shared.repositories import auth_requests
from shared.repositories.clients import Client
from shared.runtime import Runtime


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


async def push_tokens(rt: Runtime, minter: Minter, request: AuthRequest, client: Client,
                      auth_req_id: str) -> dict[str, Any]:
    """The push token payload: the kept one on a retry, else mint and keep it atomically."""
    if request.push_payload_enc:
        return _kept(rt, request.push_payload_enc)
    token_set = await issue_for_request(rt.pool, minter, request, client, config=rt.config, now=rt.clock.now(),
                                        service=rt.service, push_auth_req_id=auth_req_id)
    if token_set is not None:
        return {**token_set.as_response(), "auth_req_id": auth_req_id}
    current = await auth_requests.get(rt.pool, request.id)  # another delivery minted them first
    if current is None or current.push_payload_enc is None:
        raise GiveUp("tokens were already issued and are no longer held for delivery")
    return _kept(rt, current.push_payload_enc)


def _kept(rt: Runtime, payload_enc: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(rt.secrets.decrypt(payload_enc))
    return payload
