"""POST /token (RFC 6749 3.2): authenticate the client, then hand over to the grant.

Grants: ``urn:openid:params:grant-type:ciba`` (CIBA Core 10.1) and ``refresh_token``
(RFC 6749 6). Every answer, success or error, carries Cache-Control: no-store. A CIBA poll
with ``Prefer: wait=N`` is held open while the request is pending (see long_poll), and its
answer then says ``Preference-Applied: wait=N``.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway.client_auth import authenticate_client
from services.gateway.context import gateway
from services.gateway.forms import read_form
from services.gateway.grants import ciba, refresh_token
from services.gateway.long_poll import Applied, requested_wait
from services.gateway.middleware import NO_STORE, error_response
from services.gateway.sender_constraint import binding_at_token
from shared.domain import fapi_ciba
from shared.errors import ProtocolError, UnauthorizedClient, UnsupportedGrantType

PATH = "/token"
GRANTS = {ciba.GRANT_TYPE: ciba.exchange, refresh_token.GRANT_TYPE: refresh_token.exchange}


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    form = await read_form(request)
    grant_type = form.require("grant_type")
    exchange = GRANTS.get(grant_type)
    if exchange is None:
        raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
    client = await authenticate_client(request, form, gw)
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"the client is not registered for the {grant_type} grant")
    fapi_ciba.check_client(gw.rt.config, client)
    binding = await binding_at_token(request, gw, client)
    fapi_ciba.check_sender_constrained(gw.rt.config, client, binding.cnf)
    wait = requested_wait(request.headers.getall("Prefer", []))
    if grant_type != ciba.GRANT_TYPE or wait is None:
        return web.json_response(await exchange(gw, client, form, binding=binding), headers=NO_STORE)
    applied = Applied()
    try:
        body = await ciba.exchange(gw, client, form, binding=binding, wait=wait, applied=applied)
    except ProtocolError as error:
        response = error_response(error)
        response.headers.update(applied.header())
        return response
    return web.json_response(body, headers={**NO_STORE, **applied.header()})
