"""The protocol errors /openapi.json documents are the ones the code can raise.

Every module of the gateway (and of shared/domain) that can raise a protocol error lists them in
its ``ERRORS`` (shared.errors.Errors): the classes, and ``X.at(status)`` where a raise sets
another status than the class's. They are what its own functions raise, and what the step
functions they call can raise: a module calling a step module includes that module's ERRORS
(``*hints.ERRORS``), or, where it calls only some of its functions, theirs (``client_auth``
calls ``mtls.authenticate``, never the resource side of ``mtls``). An endpoint module's ERRORS
are then everything its route can answer besides what the middleware answers on any route, and
the document's error responses are built from them.

What the code can raise is read from its source (tests/unit/raised_errors.py), function by
function, through imports and declared types; each module's ERRORS must be exactly that, so
neither a new raise nor a removed one leaves the document behind. The device pages answer HTML,
not protocol errors, and are not documented.
"""

from __future__ import annotations

import importlib
from typing import Any, cast

import jsonschema
import pytest

from services.gateway.app import create_app
from services.gateway.context import Gateway
from services.gateway.endpoints import openapi
from services.gateway.endpoints.openapi.responses import COMMON, header_names
from shared import errors
from shared.domain.client_metadata import ClientMetadata
from shared.domain.grant_types import CIBA_GRANT
from shared.errors import Answer, answers
from tests.unit.raised_errors import documented_errors, module_raises, route_errors, shown
from tests.unit.source_reader import definitions, modules

DOCUMENT = openapi.document("https://issuer.example")
WIRING = {"services.gateway.app", "services.gateway.__main__"}  # hand the handlers on; answer nothing themselves
PAGES = "services.gateway.device"
DECLARING = sorted(module for module in modules() if module.startswith(("services.gateway", "shared.domain"))
                   and module not in WIRING and not module.startswith(PAGES))


def declared(module: str) -> set[Answer]:
    return set(answers(getattr(importlib.import_module(module), "ERRORS", ())))


@pytest.mark.parametrize("module", DECLARING)
def test_a_module_declares_exactly_the_errors_it_can_raise(module: str) -> None:
    raised, listed = module_raises(module), declared(module)
    assert not raised - listed, f"{module}.ERRORS lacks {shown(raised - listed)}"
    assert not listed - raised, f"{module}.ERRORS lists {shown(listed - raised)}, which nothing in it raises"


@pytest.mark.parametrize("module", sorted(m for m in modules() if m.startswith("services.gateway.stores")))
def test_the_ports_implementations_raise_no_protocol_errors(module: str) -> None:
    """Calls through a port are not followed: what its implementation raised would go undocumented."""
    assert not module_raises(module), shown(module_raises(module))


def test_the_analysis_sees_through_the_gateways_ports() -> None:
    """A handler reaches client authentication through ``gw.client_auth``, not an import."""
    assert errors.InvalidClient.at(401) in module_raises("services.gateway.endpoints.token")
    assert "services.gateway.endpoints.token.handle" in definitions()


def _routes() -> list[tuple[str, str, Any]]:
    app = create_app(cast(Gateway, object()))
    return [(route.method, route.resource.canonical, route.handler) for route in app.router.routes()
            if route.resource is not None and route.method != "HEAD"
            and route.resource.canonical != openapi.PATH and not route.resource.canonical.startswith("/device")]


@pytest.mark.parametrize(("method", "path", "handler"), _routes(), ids=lambda value: str(value)[:40])
def test_each_route_documents_exactly_what_its_endpoint_and_the_middleware_answer(
        method: str, path: str, handler: Any) -> None:
    assert documented_errors(DOCUMENT, path, method) == route_errors(handler)


def test_every_route_documents_the_middlewares_answers() -> None:
    assert {(answer.code, answer.status) for answer in COMMON} == {
        ("invalid_request", 400), ("invalid_request", 413), ("invalid_request", 405), ("slow_down", 429),
        ("server_error", 500), ("temporarily_unavailable", 503)}


@pytest.mark.parametrize("error", [
    errors.InvalidClient(), errors.InvalidToken(), errors.InvalidToken(credentials_sent=False),
    errors.InvalidDpopToken(resource_algs="ES256"), errors.InvalidDpopProof(),
    errors.InvalidDpopProof(resource_algs="ES256"), errors.UseDpopNonce("n0nce"),
    errors.UseDpopNonce("n0nce", resource_algs="ES256"), errors.SlowDown(),
    errors.SlowDown(status=429, retry_after=3), errors.TemporarilyUnavailable(), errors.MethodNotAllowed("GET"),
    errors.InvalidRequest(status=413), errors.ServerError(),
], ids=lambda error: f"{type(error).__name__}@{error.status}")
def test_an_error_answer_carries_the_headers_documented_for_it(error: errors.ProtocolError) -> None:
    assert set(error.headers()) == set(header_names(error.status, [type(error)]))


def _valid(instance: object, schema: str) -> None:
    jsonschema.validate(instance, {"$ref": f"#/components/schemas/{schema}", "components": DOCUMENT["components"]})


@pytest.mark.parametrize("error", [
    errors.InvalidScope(), errors.InvalidRequest("requested_expiry must be a positive integer"),
    errors.UnknownUserId('no "user" \\ named \u00e9\n'), errors.ServerError(""),
])
def test_every_error_body_is_what_the_error_schema_describes(error: errors.ProtocolError) -> None:
    _valid(error.body(), "Error")


@pytest.mark.parametrize("metadata", [
    {"backchannel_token_delivery_mode": "poll"},
    {"client_name": "Kiosk", "grant_types": [CIBA_GRANT, "refresh_token"], "backchannel_token_delivery_mode": "ping",
     "backchannel_client_notification_endpoint": "https://rp.example/cb", "response_types": ["none"]},
    {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "rp.example",
     "backchannel_token_delivery_mode": "poll", "tls_client_certificate_bound_access_tokens": True},
    DOCUMENT["components"]["schemas"]["ClientMetadata"]["example"],
])
def test_the_client_metadata_schema_takes_what_registration_accepts(metadata: dict[str, Any]) -> None:
    ClientMetadata.model_validate(metadata)
    _valid(metadata, "ClientMetadata")


@pytest.mark.parametrize(("member", "value"), [
    ("grant_types", ["authorization_code"]), ("token_endpoint_auth_method", "none"),
    ("id_token_signed_response_alg", "none"), ("backchannel_token_delivery_mode", "carrier-pigeon"),
    ("response_types", ["code"]), ("client_name", "x" * 201),
])
def test_the_client_metadata_schema_refuses_what_registration_refuses(member: str, value: object) -> None:
    metadata = {"backchannel_token_delivery_mode": "poll", member: value}
    with pytest.raises(ValueError):
        ClientMetadata.model_validate(metadata)
    with pytest.raises(jsonschema.ValidationError):
        _valid(metadata, "ClientMetadata")
