"""DPoP nonces (RFC 9449 8 and 9): with the server property dpopNonceRequired, a proof must carry
a nonce the server handed out in a ``DPoP-Nonce`` header.

A nonce is not stored: it is an HMAC, under the master keys, of a time window of
:data:`NONCE_WINDOW_SEC`; the current and the previous window's are accepted, so every replica
verifies what any replica issued. While nonces are required, every answer to a DPoP request at
/token and /userinfo carries a fresh one (:func:`offer_nonce`, :func:`add_nonce_header`).
"""

from __future__ import annotations

import base64
import hmac
from datetime import datetime

from aiohttp import web

from shared.config.model import ServerConfig
from shared.crypto import Secrets

NONCE_WINDOW_SEC = 300
_NONCE_LABEL = "ciba/dpop-nonce/"

# The nonce this request's answer carries in DPoP-Nonce (set while nonces are required).
NONCE = web.RequestKey("ciba_dpop_nonce", str)


def _window(now: datetime) -> int:
    return int(now.timestamp()) // NONCE_WINDOW_SEC


def _nonce(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def current_nonce(secrets: Secrets, now: datetime) -> str:
    """The nonce of the current window, under the newest master key."""
    return _nonce(secrets.hash(f"{_NONCE_LABEL}{_window(now)}"))


def nonce_is_valid(secrets: Secrets, now: datetime, nonce: object) -> bool:
    """Whether ``nonce`` is this or the previous window's, under any master key."""
    if not isinstance(nonce, str) or len(nonce) > 64:
        return False
    window = _window(now)
    candidates = [_nonce(digest) for w in (window, window - 1)
                  for digest in secrets.hashes(f"{_NONCE_LABEL}{w}")]
    matched = False
    for candidate in candidates:  # every candidate compared: the time taken tells nothing
        matched |= hmac.compare_digest(candidate.encode(), nonce.encode("utf-8", "surrogatepass"))
    return matched


def offer_nonce(request: web.Request, config: ServerConfig, secrets: Secrets, now: datetime) -> None:
    """While nonces are required, this DPoP request's answer carries the current one."""
    if config.dpopNonceRequired:
        request[NONCE] = current_nonce(secrets, now)


async def add_nonce_header(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the fresh nonce a DPoP request's answer carries, success or error."""
    nonce = request.get(NONCE)
    if nonce is not None and "DPoP-Nonce" not in response.headers:
        response.headers["DPoP-Nonce"] = nonce
