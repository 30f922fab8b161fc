"""Rich authorization requests (RFC 9396) on the consent page: a payment shown escaped and in the
user's language (ui_locales), a type without a template shown flattened, and an operator's
template per type in place of the built-in one."""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient

from services.gateway.device.pages import detail_template
from shared.crypto import new_token
from shared.domain.authorization_details import flatten
from shared.passwords import hash_password
from shared.repositories import device_refs
from tests.integration.authorization_details_support import PAYMENT, _payment, bc_authorize, stored
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import add_user, register, server_property

PASSWORD = "a-long-enough-password"


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
def operator_templates(tmp_path, gateway):
    folder = tmp_path / "authorization_details"
    folder.mkdir()
    (folder / "account_information.html").write_text(
        '<p class="acme">ACME reads {{ detail["actions"] | join(" and ") }} ({{ fields | length }} fields)</p>')
    (folder / "payment_initiation.html").write_text(
        '<p class="acme">Pay {{ detail["instructedAmount"]["amount"] | money(detail["instructedAmount"]["currency"]) }}'
        ' to {{ detail["creditorName"] }}</p>')
    gateway.templates.use_directory(str(tmp_path))
    yield tmp_path
    gateway.templates.use_directory(None)


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
