"""Rich authorization requests (RFC 9396) at /bc-authorize: authorization_details in the form or the
signed request, checked against the server's and the client's types (2, 5), and the types a
client registers and discovery lists (10). (The consent page, the tokens: the other
test_authorization_details_*.py; the push payload: tests/e2e/test_authorization_details_push.py.)"""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from tests.integration.authorization_details_support import (
    PAYMENT,
    PAYMENTS,
    _payment,
    bc_authorize,
    payment_client,
    stored,
)
from tests.support.gateway_client import CIBA_GRANT, add_user, register, register_raw, server_property
from tests.support.jwt_client import ClientSigner, request_claims

# The parameter, in the form and in the signed request.

async def test_a_payment_in_the_form_is_stored_as_sent(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    status, body = await bc_authorize(http, client, user.username, authorization_details=json.dumps([PAYMENT]))
    assert status == 200, body
    assert (await stored(gateway, body["auth_req_id"])).authorization_details == [PAYMENT]


async def test_a_request_without_it_stores_none(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    status, body = await bc_authorize(http, client, user.username)
    assert status == 200 and (await stored(gateway, body["auth_req_id"])).authorization_details is None


async def signed_client(http: TestClient) -> tuple[dict, ClientSigner]:
    signer = ClientSigner("PS256")
    client = await register_raw(http, token_endpoint_auth_method="client_secret_post", jwks=signer.jwks,
                                backchannel_authentication_request_signing_alg="PS256",
                                authorization_details_types=PAYMENTS)
    return client, signer


async def post_signed(http: TestClient, client: dict, **data: str) -> tuple[int, dict]:
    response = await http.post("/bc-authorize", data={"client_id": client["client_id"],
                                                      "client_secret": client["client_secret"], **data})
    return response.status, await response.json()


async def test_a_payment_in_a_signed_request_is_a_json_array_claim(http, gateway) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username,
                                       authorization_details=[PAYMENT]))
    status, body = await post_signed(http, client, request=token)
    assert status == 200, body
    assert (await stored(gateway, body["auth_req_id"])).authorization_details == [PAYMENT]


async def test_in_a_signed_request_it_is_checked_and_may_not_sit_beside_it(http, gateway) -> None:
    client, signer = await signed_client(http)
    user = await add_user(gateway)
    as_text = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username,
                                         authorization_details=json.dumps([PAYMENT])))
    status, body = await post_signed(http, client, request=as_text)  # RFC 9396 3: an array, not a string
    assert (status, body["error"]) == (400, "invalid_authorization_details")
    unknown = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username,
                                         authorization_details=[{"type": "account_information"}]))
    status, body = await post_signed(http, client, request=unknown)
    assert (status, body["error"]) == (400, "invalid_authorization_details")
    plain = signer.sign(request_claims(client["client_id"], gateway.issuer, login_hint=user.username))
    status, body = await post_signed(http, client, request=plain, authorization_details=json.dumps([PAYMENT]))
    assert (status, body["error"]) == (400, "invalid_request")
    assert "authorization_details" in body["error_description"]


# Validation (RFC 9396 2 and 5).

INVALID = {  # case: (the parameter, what the description names)
    "not JSON": ("[{type: payment_initiation}]", "not valid JSON"),
    "an object, not an array": (json.dumps(PAYMENT), "must be a JSON array"),
    "an empty array": ("[]", "must not be empty"),
    "an array of strings": (json.dumps(["payment_initiation"]), "[0] must be a JSON object"),
    "no type": (json.dumps([_payment(type=None)]), "type is required"),
    "a type that is not a string": (json.dumps([_payment(type=7)]), "type is required and must be a string"),
    "a type the server does not support": (json.dumps([{"type": "account_information"}]),
                                           "'account_information' is not supported"),
    "actions not an array of strings": (json.dumps([_payment(actions="initiate")]), "actions must be an array"),
    "locations holding a number": (json.dumps([_payment(locations=[1])]), "locations must be an array of strings"),
    "identifier not a string": (json.dumps([_payment(identifier=["a"])]), "identifier must be a string"),
    "datatypes not an array": (json.dumps([_payment(datatypes={"a": 1})]), "datatypes must be an array"),
    "privileges not an array": (json.dumps([_payment(privileges="admin")]), "privileges must be an array"),
    "a second detail without a type": (json.dumps([PAYMENT, {"actions": []}]), "[1]: type is required"),
    "a payment without an amount": (json.dumps([_payment(instructedAmount=None)]), "instructedAmount"),
    "a payment amount as a number": (json.dumps([_payment(instructedAmount={"currency": "EUR", "amount": 12.5})]),
                                     "instructedAmount.amount"),
    "a payment in no currency": (json.dumps([_payment(instructedAmount={"currency": "euro", "amount": "1"})]),
                                 "instructedAmount.currency"),
    "a payee account of numbers": (json.dumps([_payment(creditorAccount={"iban": 1})]), "creditorAccount"),
    "more than ten": (json.dumps([PAYMENT] * 11), "more than 10"),
    "over 8 KiB": (json.dumps([_payment(remittanceInformationUnstructured="x" * 9000)]), "8192 bytes"),
    "nested too deep": (json.dumps([_payment(extra=[[[[[["deep"]]]]]])]), "nest deeper"),
    "a member named twice": ('[{"type": "payment_initiation", "type": "payment_initiation"}]', "'type' twice"),
    "NaN": ('[{"type": "payment_initiation", "n": NaN}]', "NaN"),
    "an overflowing number": ('[{"type": "payment_initiation", "n": 1e400}]', "not finite"),
    "an inexact integer": (json.dumps([_payment(n=2**64)]), "too large"),
    "a NUL": (json.dumps([_payment(creditorName="A\u0000B")]), "NUL"),
    "an unpaired surrogate": ('[{"type": "payment_initiation", "creditorName": "\\ud800"}]', "surrogate"),
}


@pytest.mark.parametrize("case", list(INVALID))
async def test_malformed_details_are_invalid_authorization_details(http, gateway, case) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    raw, named = INVALID[case]
    status, body = await bc_authorize(http, client, user.username, authorization_details=raw)
    assert (status, body["error"]) == (400, "invalid_authorization_details"), (case, body)
    assert named in body["error_description"], (case, body)


async def test_a_type_the_client_did_not_register_is_refused(http, gateway) -> None:
    user = await add_user(gateway)
    async with server_property(gateway, "authorizationDetailsTypesSupported",
                               ["payment_initiation", "account_information"]):
        client = await payment_client(http)
        status, body = await bc_authorize(http, client, user.username,
                                          authorization_details=json.dumps([{"type": "account_information"}]))
        assert (status, body["error"]) == (400, "invalid_authorization_details")
        assert "registered" in body["error_description"]
        unregistered = await register(http)  # registered no authorization_details_types at all
        status, body = await bc_authorize(http, unregistered, user.username,
                                          authorization_details=json.dumps([PAYMENT]))
        assert (status, body["error"]) == (400, "invalid_authorization_details")


# Registration and discovery (RFC 9396 10).

async def test_registration_accepts_supported_types_only(http, gateway) -> None:
    answer = await http.post("/register", json={"backchannel_token_delivery_mode": "poll",
                                                "grant_types": [CIBA_GRANT], "authorization_details_types": PAYMENTS})
    assert answer.status == 201 and (await answer.json())["authorization_details_types"] == PAYMENTS
    for types in (["account_information"], ["with space"], "payment_initiation", [""]):
        answer = await http.post("/register", json={"backchannel_token_delivery_mode": "poll",
                                                    "grant_types": [CIBA_GRANT], "authorization_details_types": types})
        body = await answer.json()
        assert (answer.status, body["error"]) == (400, "invalid_client_metadata"), types
        assert "authorization_details_types" in body["error_description"]


async def test_discovery_lists_the_supported_types_and_none_when_off(http, gateway) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    assert doc["authorization_details_types_supported"] == PAYMENTS
    async with server_property(gateway, "authorizationDetailsTypesSupported", []):
        doc = await (await http.get("/.well-known/openid-configuration")).json()
        assert "authorization_details_types_supported" not in doc
        client, user = await register(http), await add_user(gateway)
        status, body = await bc_authorize(http, client, user.username, authorization_details=json.dumps([PAYMENT]))
        assert (status, body["error"]) == (400, "invalid_authorization_details")
