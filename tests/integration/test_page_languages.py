"""The device pages speak the user's language: the request's ui_locales first, then the
browser's Accept-Language, else English; and every catalogue covers every message."""

from __future__ import annotations

import re

import pytest
from aiohttp.test_utils import TestClient
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.gateway.device import locale
from shared.crypto import new_token
from shared.passwords import hash_password
from shared.repositories import auth_requests, device_refs
from tests.support.browser import Page, parse_forms
from tests.support.gateway_client import add_user, register, register_raw
from tests.support.jwt_client import ClientSigner, request_claims

PASSWORD = "a-long-enough-password"


async def _open(http: TestClient, gateway, **params: str) -> tuple[object, str, object]:
    client = await register(http, client_name="Banque <Guichet>")
    user = await add_user(gateway, claims={})
    await gateway.rt.pool.execute("UPDATE users SET password_hash = $2 WHERE sub = $1", user.sub,
                                  hash_password(PASSWORD))
    response = await http.post("/bc-authorize", data={"scope": "openid email", "login_hint": user.username,
                                                      "binding_message": "Code 7Q", **params}, headers=client.basic)
    assert response.status == 200, await response.text()
    auth_req_id = (await response.json())["auth_req_id"]
    request = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    ref = new_token(32)
    await device_refs.insert(gateway.rt.pool, gateway.rt.secrets.hash(ref), request.id, gateway.rt.clock.now())
    return user, f"/device/{ref}", request


async def _get(http: TestClient, path: str, accept_language: str | None = None) -> tuple[Page, str]:
    headers = {"Accept-Language": accept_language} if accept_language else {}
    response = await http.get(path, headers=headers)
    return Page(str(response.url), response.status, await response.text()), response.headers["Content-Language"]


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]*)"', html).group(1)


async def test_ui_locales_chooses_french_over_the_browser(http, gateway) -> None:
    _user, path, request = await _open(http, gateway, ui_locales="de-CH fr-CA en")
    assert request.ui_locales == "de-CH fr-CA en"
    page, language = await _get(http, path, accept_language="en-GB,en;q=0.9")
    assert (language, _lang(page.html)) == ("fr", "fr")
    assert "Se connecter" in page.html and "Mot de passe" in page.html
    assert "<strong>Banque &lt;Guichet&gt;</strong> vous demande de vous connecter." in page.html  # still escaped
    assert "Code 7Q" in page.html  # the binding message is the client's, never translated


async def test_without_ui_locales_the_browser_chooses(http, gateway) -> None:
    _user, path, _ = await _open(http, gateway)
    french, language = await _get(http, path, accept_language="de;q=0.9, fr-BE;q=0.8, en;q=0.1")
    assert language == "fr" and "Se connecter" in french.html
    english, language = await _get(http, path, accept_language="de, *;q=0.5")
    assert language == "en" and _lang(english.html) == "en" and "Sign in to continue" in english.html
    default, language = await _get(http, path)
    assert language == "en" and "Sign in" in default.html


async def test_the_whole_french_flow_errors_included(http, gateway) -> None:
    user, path, _ = await _open(http, gateway, ui_locales="fr")
    login, _ = await _get(http, path)
    form = parse_forms(login.html)[0]
    wrong = await http.post(form.action, data={**form.fields, "username": user.username, "password": "nope"})
    assert wrong.status == 401 and "Le nom d’utilisateur ou le mot de passe est incorrect." in await wrong.text()
    login, _ = await _get(http, path)
    form = parse_forms(login.html)[0]
    consent = await http.post(form.action, data={**form.fields, "username": user.username, "password": PASSWORD})
    html = await consent.text()
    assert "Approuver cette demande ?" in html and "Votre adresse e-mail" in html
    assert f"en tant que <strong>{user.username}</strong>" in html
    form = parse_forms(html)[0]
    done = await http.post(form.action, data={**form.fields, "decision": "approve"})
    assert "Vous avez approuvé la demande de Banque &lt;Guichet&gt;." in await done.text()


async def test_pages_without_a_request_follow_the_browser(http) -> None:
    gone, language = await _get(http, "/device/no-such-link", accept_language="fr")
    assert gone.status == 404 and language == "fr" and "Ce lien n’est pas valide." in gone.html
    account, language = await _get(http, "/device/account/user-code", accept_language="fr-FR")
    assert language == "fr" and "Connectez-vous pour changer votre code utilisateur" in account.html


async def test_malformed_ui_locales_are_ignored_not_refused(http, gateway) -> None:
    _user, path, request = await _open(http, gateway, ui_locales="<script> x;y en- fr de-CH")
    assert request.ui_locales == "fr de-CH"
    page, language = await _get(http, path)
    assert language == "fr"


async def test_ui_locales_inside_a_signed_request_counts(http, gateway) -> None:
    signer = ClientSigner("ES256")
    client = await register_raw(http, token_endpoint_auth_method="client_secret_post", jwks=signer.jwks,
                                backchannel_authentication_request_signing_alg="ES256")
    user = await add_user(gateway)
    token = signer.sign(request_claims(client["client_id"], gateway.issuer, now=gateway.rt.clock.now().timestamp(),
                                       login_hint=user.username, ui_locales="fr"))
    response = await http.post("/bc-authorize", data={"client_id": client["client_id"],
                                                      "client_secret": client["client_secret"], "request": token})
    auth_req_id = (await response.json())["auth_req_id"]
    stored = await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))
    assert stored.ui_locales == "fr"
    beside = await http.post("/bc-authorize", data={"client_id": client["client_id"], "ui_locales": "fr",
                                                    "client_secret": client["client_secret"], "request": token})
    assert (await beside.json())["error"] == "invalid_request"  # like every parameter: inside, not beside


async def test_discovery_lists_the_languages(http) -> None:
    doc = await (await http.get("/.well-known/openid-configuration")).json()
    assert doc["ui_locales_supported"] == ["en", "fr"]


@pytest.mark.parametrize(("ui_locales", "accept_language", "chosen"), [
    ("fr", "en", "fr"),
    ("de fr", None, "fr"),
    ("FR_fr", None, "fr"),
    (None, "fr;q=0, en", "en"),
    (None, "en;q=0.2, fr;q=0.9", "fr"),
    (None, "fr;q=bogus, en", "en"),
    (None, "", "en"),
    ("zz", "zz", "en"),
])
def test_negotiation(ui_locales, accept_language, chosen) -> None:
    assert locale.negotiate(ui_locales, accept_language) == chosen


@pytest.mark.parametrize("language", [language for language in locale.SUPPORTED if language != locale.DEFAULT])
def test_each_catalogue_translates_every_message_with_the_same_placeholders(language) -> None:
    """Extracted from the code and the templates as `pybabel extract -F babel.cfg` would."""
    method_map = [("services/gateway/**.py", "python"), ("services/gateway/templates/**.html", "jinja2")]
    root = locale.LOCALE_DIR.parent.parent.parent
    extracted = {message for _file, _line, message, _comments, _context
                 in extract_from_dir(str(root), method_map, options_map={"services/gateway/templates/**.html": {}})
                 if isinstance(message, str)}
    assert extracted, "nothing extracted"
    with (locale.LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    translated = {message.id: message.string for message in catalog if message.id and message.string}
    assert sorted(extracted - set(translated)) == []
    placeholders = re.compile(r"%\(\w+\)s")
    assert {m: sorted(placeholders.findall(m)) for m in extracted} == \
        {m: sorted(placeholders.findall(translated[m])) for m in extracted}
