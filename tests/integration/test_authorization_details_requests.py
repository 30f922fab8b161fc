"""Rich authorization requests (RFC 9396) at /bc-authorize: authorization_details in the form
or the signed request, checked against the server's and the client's types, shown on the
consent page, and carried into the access token, the token response, introspection and the
grant a refresh token renews. (The push payload: tests/e2e/test_authorization_details_push.py.)"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from services.gateway.device import render
from services.gateway.device.pages import detail_template
from shared.crypto import new_token
from shared.domain.authorization_details import flatten
from shared.jose import tokens as jose_tokens
from shared.passwords import hash_password
from shared.repositories import auth_requests, device_refs
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import CIBA_GRANT, Client, add_user, decide, register, register_raw, server_property
from tests.support.jwt_client import ClientSigner, request_claims

PASSWORD = "a-long-enough-password"
PAYMENT = {
    "type": "payment_initiation",
    "actions": ["initiate", "status", "cancel"],
    "locations": ["https://example.com/payments"],
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
    "remittanceInformationUnstructured": "Ref Number Merchant",
}
PAYMENTS = ["payment_initiation"]


async def payment_client(http: TestClient, **metadata: Any) -> Client:
    return await register(http, authorization_details_types=PAYMENTS, **metadata)


async def bc_authorize(http: TestClient, client: Client, login_hint: str, **data: str) -> tuple[int, dict]:
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": login_hint, **data},
                               headers=client.basic)
    return response.status, await response.json()


async def stored(gateway, auth_req_id: str):
    return await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))


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

def _payment(**changes: Any) -> dict:
    return {key: value for key, value in {**PAYMENT, **changes}.items() if value is not None}


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


# The consent page.

async def consent_page(http: TestClient, gateway, details: list[dict], **params: str) -> Page:
    """A request carrying ``details`` for a fresh user, signed in on its device page."""
    async with server_property(gateway, "authorizationDetailsTypesSupported",
                               ["payment_initiation", "account_information"]):
        client = await register(http, authorization_details_types=["payment_initiation", "account_information"])
        user = await add_user(gateway, claims={})
        await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", user.sub,
                                      hash_password(PASSWORD))
        status, body = await bc_authorize(http, client, user.username, authorization_details=json.dumps(details),
                                          **params)
    assert status == 200, body
    request = await stored(gateway, body["auth_req_id"])
    ref = new_token(32)
    await device_refs.insert(gateway.rt.pool, gateway.rt.secrets.hash(ref), request.id, gateway.rt.clock.now())
    login = await http.get(f"/device/{ref}")
    form = parse_forms(await login.text())[0]
    consent = await http.post(form.action, data={**form.fields, "username": user.username, "password": PASSWORD})
    page = Page(str(consent.url), consent.status, await consent.text())
    assert page.status == 200 and parse_forms(page.html)[0].buttons, page.html
    return page


async def test_the_consent_page_shows_the_payment_escaped(http, gateway) -> None:
    page = await consent_page(http, gateway, [_payment(creditorName="<script>alert(1)</script> Ltd")])
    assert "It also asks you to approve:" in page.html and "<h2>Payment</h2>" in page.html
    assert '<dd class="amount">€123.50</dd>' in page.html
    assert "<dd>EUR</dd>" in page.html
    assert "<dd>&lt;script&gt;alert(1)&lt;/script&gt; Ltd</dd>" in page.html and "<script>" not in page.html
    assert "<dd>DE02100100109307118603</dd>" in page.html
    assert "<dd>Ref Number Merchant</dd>" in page.html


async def test_the_consent_page_speaks_french_with_ui_locales(http, gateway) -> None:
    page = await consent_page(http, gateway, [_payment(instructedAmount={"currency": "EUR", "amount": "1234.5"})],
                              ui_locales="fr")
    assert "Elle vous demande aussi d’approuver :" in page.html and "<h2>Paiement</h2>" in page.html
    assert '<dd class="amount">1\u202f234,50\xa0€</dd>' in page.html  # as French writes it, every digit kept
    assert "<dt>Montant</dt>" in page.html and "<dt>Devise</dt>" in page.html
    assert "<dt>Bénéficiaire</dt><dd>Merchant A</dd>" in page.html


async def test_a_type_without_a_template_shows_its_fields_flattened_and_escaped(http, gateway) -> None:
    detail = {"type": "account_information", "actions": ["list_accounts", "read_balances"],
              "locations": ["https://example.com/accounts"], "owner": {"name": "<b>Jo</b>", "verified": True},
              "accounts": [{"iban": "DE1"}, {"iban": "DE2"}]}
    page = await consent_page(http, gateway, [PAYMENT, detail])
    assert "<h2>Payment</h2>" in page.html and "<h2>account_information</h2>" in page.html
    assert "<dt>actions</dt><dd>list_accounts, read_balances</dd>" in page.html
    assert "<dt>owner.name</dt><dd>&lt;b&gt;Jo&lt;/b&gt;</dd>" in page.html
    assert "<dt>owner.verified</dt><dd>true</dd>" in page.html
    assert "<dt>accounts.2.iban</dt><dd>DE2</dd>" in page.html


@pytest.fixture
def operator_templates(tmp_path):
    folder = tmp_path / "authorization_details"
    folder.mkdir()
    (folder / "account_information.html").write_text(
        '<p class="acme">ACME reads {{ detail["actions"] | join(" and ") }} ({{ fields | length }} fields)</p>')
    (folder / "payment_initiation.html").write_text(
        '<p class="acme">Pay {{ detail["instructedAmount"]["amount"] | money(detail["instructedAmount"]["currency"]) }}'
        ' to {{ detail["creditorName"] }}</p>')
    render.use_templates_dir(str(tmp_path))
    yield tmp_path
    render.use_templates_dir(None)


async def test_an_operator_template_per_type_is_used(http, gateway, operator_templates) -> None:
    detail = {"type": "account_information", "actions": ["list_accounts", "<read>"]}
    page = await consent_page(http, gateway, [_payment(creditorName="<i>A</i>"), detail])
    assert '<p class="acme">ACME reads list_accounts and &lt;read&gt; (1 fields)</p>' in page.html
    assert '<p class="acme">Pay €123.50 to &lt;i&gt;A&lt;/i&gt;</p>' in page.html
    assert "<h2>Payment</h2>" not in page.html  # the built-in one is replaced


def test_template_names_and_flattening() -> None:
    assert detail_template("payment_initiation") == "authorization_details/payment_initiation.html"
    assert detail_template("https://bank.example/x y") == "authorization_details/https___bank.example_x_y.html"
    assert detail_template("../consent") == "authorization_details/_._consent.html"
    assert flatten({"type": "t", "a": {"b": [1, 2], "c": None}, "d": [], "e": [{"f": False}]}) == [
        ("a.b", "1, 2"), ("a.c", "null"), ("d", ""), ("e.1.f", "false")]


# Into the tokens (RFC 9396 7, 9.1, 9.2) and through a refresh.

async def test_the_tokens_introspection_and_refresh_carry_the_details(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    status, body = await bc_authorize(http, client, user.username, authorization_details=json.dumps([PAYMENT]))
    assert status == 200, body
    await decide(gateway, body["auth_req_id"], approved=True)
    answer = await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": body["auth_req_id"]},
                             headers=client.basic)
    issued = await answer.json()
    assert answer.status == 200, issued
    assert issued["authorization_details"] == [PAYMENT]
    claims = jose_tokens.verify_access_token(gateway.keyring, issued["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert claims["authorization_details"] == [PAYMENT]

    for token, hint in ((issued["access_token"], "access_token"), (issued["refresh_token"], "refresh_token")):
        described = await (await http.post("/introspect", data={"token": token, "token_type_hint": hint},
                                           headers=client.basic)).json()
        assert described["active"] is True and described["authorization_details"] == [PAYMENT], hint

    answer = await http.post("/token", data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"]},
                             headers=client.basic)
    refreshed = await answer.json()
    assert answer.status == 200, refreshed
    assert refreshed["authorization_details"] == [PAYMENT]
    claims = jose_tokens.verify_access_token(gateway.keyring, refreshed["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert claims["authorization_details"] == [PAYMENT]
    userinfo = await http.get("/userinfo", headers={"Authorization": f"Bearer {refreshed['access_token']}"})
    assert userinfo.status == 200


async def test_tokens_of_a_request_without_details_carry_none(http, gateway) -> None:
    client, user = await payment_client(http), await add_user(gateway)
    _, body = await bc_authorize(http, client, user.username)
    await decide(gateway, body["auth_req_id"], approved=True)
    issued = await (await http.post("/token", data={"grant_type": CIBA_GRANT, "auth_req_id": body["auth_req_id"]},
                                    headers=client.basic)).json()
    claims = jose_tokens.verify_access_token(gateway.keyring, issued["access_token"], issuer=gateway.issuer,
                                             now=gateway.rt.clock.now())
    assert "authorization_details" not in issued and "authorization_details" not in claims
