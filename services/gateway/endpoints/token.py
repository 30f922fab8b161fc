"""POST /token (RFC 6749 3.2): authenticate the client, then hand over to the grant.

Grants: ``urn:openid:params:grant-type:ciba`` (CIBA Core 10.1) and ``refresh_token``
(RFC 6749 6). Every answer, success or error, carries Cache-Control: no-store. A CIBA poll
with ``Prefer: wait=N`` is held open while the request is pending (see long_poll), and its
answer then says ``Preference-Applied: wait=N``.
"""

from __future__ import annotations

from aiohttp import web

from services.gateway import client_auth, dpop
from services.gateway.context import gateway
from services.gateway.forms import read_form
from services.gateway.grants import ciba, refresh_token
from services.gateway.long_poll import Applied, requested_wait
from services.gateway.middleware import NO_STORE, error_response
from services.gateway.sender_constraint import binding_at_token
from shared.domain import fapi_ciba
from shared.domain.grant_types import SUPPORTED_GRANT_TYPES
from shared.errors import Errors, ProtocolError, UnauthorizedClient, UnsupportedGrantType

PATH = "/token"
# What it answers besides the middleware's, as /openapi.json documents it: the grants', client
# authentication's, and the DPoP proof's that binds the tokens (sender_constraint.binding_at_token).
ERRORS: Errors = (*client_auth.ERRORS, *ciba.ERRORS, *refresh_token.ERRORS, *dpop.ERRORS, UnsupportedGrantType,
                  UnauthorizedClient)


async def handle(request: web.Request) -> web.Response:
    gw = gateway(request)
    form = await read_form(request)
    grant_type = form.require("grant_type")
    if grant_type not in SUPPORTED_GRANT_TYPES:
        raise UnsupportedGrantType(f"grant_type {grant_type} is not supported")
    config = gw.rt.config
    client = await gw.client_auth.authenticate(request, form, config)
    if grant_type not in client.grant_types:
        raise UnauthorizedClient(f"the client is not registered for the {grant_type} grant")
    fapi_ciba.check_client(config, client)
    binding = await binding_at_token(request, gw.sender_constraints, client, config)
    fapi_ciba.check_sender_constrained(config, client, binding.cnf)
    if grant_type == refresh_token.GRANT_TYPE:
        body = await refresh_token.exchange(client, form, pool=gw.rt.pool, secrets=gw.rt.secrets, minter=gw.minter,
                                            config=config, now=gw.rt.clock.now(), binding=binding)
        return web.json_response(body, headers=NO_STORE)
    applied = Applied()  # stays unset unless the poll is held: no Preference-Applied then
    try:
        body = await ciba.exchange(client, form, requests=gw.ciba_requests, changes=gw.waiters, config=config,
                                   clock=gw.rt.clock, binding=binding,
                                   wait=requested_wait(request.headers.getall("Prefer", [])), applied=applied)
    except ProtocolError as error:
        response = error_response(error)
        response.headers.update(applied.header())
        return response
    return web.json_response(body, headers={**NO_STORE, **applied.header()})
