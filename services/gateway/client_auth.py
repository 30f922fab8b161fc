"""Client authentication at /bc-authorize and /token (RFC 6749 2.3.1).

client_secret_basic and client_secret_post; a client may use only the method it registered.
Any failure is 401 invalid_client with a WWW-Authenticate challenge, and never says whether
the client_id exists. Secrets are compared as keyed hashes, in constant time.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from aiohttp import web

from services.gateway.context import Gateway
from services.gateway.forms import Form
from shared.errors import InvalidClient, InvalidRequest
from shared.repositories.clients import Client

SUPPORTED_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClient("unsupported Authorization scheme")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient("malformed Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidClient("malformed Basic credentials")
    # RFC 6749 2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


async def authenticate_client(request: web.Request, form: Form, gw: Gateway) -> Client:
    basic = _basic_credentials(request)
    posted_secret = form.get("client_secret")
    if basic is not None and (posted_secret is not None or "client_assertion" in form):
        raise InvalidRequest("use exactly one client authentication method")
    if basic is not None:
        method, (client_id, secret) = "client_secret_basic", basic
        if form.get("client_id") not in (None, client_id):
            raise InvalidRequest("client_id does not match the authenticated client")
    elif posted_secret is not None:
        method, client_id, secret = "client_secret_post", form.get("client_id") or "", posted_secret
    elif "client_assertion" in form:
        raise InvalidClient("client assertions are not accepted for this client")
    else:
        raise InvalidClient("client authentication is required")

    client = await gw.clients.get(client_id) if client_id else None
    if client is None or client.client_secret_hash is None:
        gw.rt.secrets.hash(secret)  # same work as a real check, so timing does not tell
        raise InvalidClient("client authentication failed")
    if not gw.rt.secrets.verify_hash(secret, client.client_secret_hash):
        raise InvalidClient("client authentication failed")
    if client.token_endpoint_auth_method != method:
        raise InvalidClient(f"the client is registered for {client.token_endpoint_auth_method}")
    return client
