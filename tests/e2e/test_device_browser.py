"""The authentication device's pages in a real browser: headless Chromium (Debian's package,
through Playwright's async API) with a phone's viewport, against the four services as
processes. A person's flows: sign in and approve, deny, the ``mfa`` level with a TOTP code, an
expired link, and the account page setting a user code.

Every page visited passes the basic accessibility checks (tests/support/a11y.py), and each
distinct page is kept as a screenshot in docs/screenshots/ (full page, phone viewport), taken
here: the README shows them. Users, clients and binding messages have fixed names so the
screenshots only change when the pages do.

Skipped, with the reason, when no Chromium is installed (``apt-get install chromium``, or
CIBA_CHROMIUM naming the executable).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from shared import totp
from tests.e2e.conftest import PASSWORD, Account
from tests.support.chromium import NO_CHROMIUM, Chromium, find_chromium, launched
from tests.support.rp import RegisteredClient, RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytest.importorskip("playwright.async_api", reason="no Playwright: pip install -e '.[test]'")

from playwright.async_api import BrowserContext, Page, expect  # noqa: E402

from tests.support.a11y import check_page  # noqa: E402

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Chromium]:
    """One browser for the session; each test opens a context (a fresh phone) of its own."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(NO_CHROMIUM)
    async with launched(executable) as browser:
        yield browser


@pytest.fixture
async def phone(chromium: Chromium) -> AsyncIterator[Page]:
    context: BrowserContext = await chromium.new_phone_context()
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def visited(page: Page, screenshot: str | None, *, primary: bool) -> None:
    """The page the browser shows now: kept as docs/screenshots/<screenshot>.png (before the
    checks, which move the focus), then checked for accessibility."""
    if screenshot is not None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=SCREENSHOTS / f"{screenshot}.png", full_page=True, animations="disabled")
    await check_page(page, expect_primary=primary)


def named_user(stack: Stack, name: str) -> Account:
    """A user with a fixed name (it shows on the consent page, so in its screenshot); a suffix
    only when the name is taken already (the suite run twice against one database)."""
    for username in (name, f"{name}-{uuid.uuid4().hex[:6]}"):
        created = stack.admin("user", "add", username, "--password-stdin", "--email", f"{username}@example.com",
                              "--claim", "name=Test User", input=f"{PASSWORD}\n", check=False)
        if isinstance(created, dict):
            return Account(created["sub"], username, f"{username}@example.com", "")
    raise AssertionError(f"ciba-admin user add {name}: {created.stderr}")


async def start(rp: RelyingParty, webhook: WebhookReceiver, user: Account, **params: str) -> tuple[
        RegisteredClient, str, str]:
    """A relying party starts a request for ``user``; returns its client, the auth_req_id and the
    device page's link from the notification the user got."""
    client = await rp.register(client_name="Corner Shop")
    started = await rp.bc_authorize(client, login_hint=user.username, **params)
    assert started.status == 200, started
    note = await webhook.next_for(user.username)
    return client, started.body["auth_req_id"], note.payload["authorization_url"]


async def sign_in(page: Page, user: Account, *, password: str | None = None, code: str | None = None) -> None:
    await page.get_by_label("Username", exact=True).fill(user.username)
    await page.get_by_label("Password", exact=True).fill(password or user.password)
    if code is not None:
        await page.get_by_label("Code from your authenticator app", exact=True).fill(code)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_user_signs_in_and_approves_and_the_relying_party_gets_tokens(
        phone: Page, stack: Stack, rp: RelyingParty, webhook: WebhookReceiver) -> None:
    user = named_user(stack, "alice")
    client, auth_req_id, link = await start(rp, webhook, user, scope="openid email profile",
                                            binding_message="Pay 42 EUR #A7")
    response = await phone.goto(link)
    assert response is not None and response.status == 200
    await expect(phone.get_by_role("heading", name="Sign in to continue")).to_be_visible()
    await expect(phone.locator(".binding")).to_have_text("Pay 42 EUR #A7")
    # No autofocus with a binding message: a phone's keyboard would cover the message to compare.
    await expect(phone.get_by_label("Username", exact=True)).not_to_be_focused()
    await visited(phone, "login", primary=True)

    await sign_in(phone, user, password="not the password")
    await expect(phone.get_by_role("alert")).to_have_text("The username or password is not correct.")
    await expect(phone.get_by_label("Username", exact=True)).to_have_value(user.username)  # kept
    await visited(phone, "login-error", primary=True)

    await sign_in(phone, user)
    await expect(phone.get_by_role("heading", name="Approve this request?")).to_be_visible()
    await expect(phone.locator("ul.scopes li")).to_have_text(
        ["Confirm your identity", "Your email address", "Your name and profile"])
    await visited(phone, "consent", primary=True)

    pending = await rp.token(client, auth_req_id)
    assert pending.body.get("error") == "authorization_pending", pending
    await phone.get_by_role("button", name="Approve").click()
    await expect(phone.get_by_role("heading", name="Approved")).to_be_visible()
    await visited(phone, "approved", primary=False)

    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200, tokens
    claims = await rp.verify_id_token(tokens.body["id_token"])
    assert (claims["sub"], claims["acr"]) == (user.sub, "pwd")
    info = await rp.userinfo(tokens.body["access_token"])
    assert info.status == 200 and info.body["email"] == user.email


async def test_a_user_denies_and_the_relying_party_gets_access_denied(
        phone: Page, stack: Stack, rp: RelyingParty, webhook: WebhookReceiver) -> None:
    user = named_user(stack, "bob")
    client, auth_req_id, link = await start(rp, webhook, user, binding_message="Log in on TV 9K2")
    await phone.goto(link)
    await visited(phone, None, primary=True)  # the login page, as in the approving flow
    await sign_in(phone, user)
    await expect(phone.get_by_role("heading", name="Approve this request?")).to_be_visible()
    await visited(phone, None, primary=True)

    # Keyboard only: Tab from the Approve button to Deny, and Enter.
    await phone.get_by_role("button", name="Approve").focus()
    await phone.keyboard.press("Tab")
    await expect(phone.get_by_role("button", name="Deny")).to_be_focused()
    await phone.keyboard.press("Enter")
    await expect(phone.get_by_role("heading", name="Denied")).to_be_visible()
    await visited(phone, "denied", primary=False)

    answer = await rp.token(client, auth_req_id)
    assert (answer.status, answer.body["error"]) == (400, "access_denied")

    # The link is single use: opened again, it reads as closed.
    again = await phone.goto(link)
    assert again is not None and again.status == 410
    await expect(phone.get_by_role("heading", name="This request is closed")).to_be_visible()
    await visited(phone, "closed", primary=False)


async def test_the_mfa_level_asks_for_the_code_of_the_users_authenticator_app(
        phone: Page, stack: Stack, rp: RelyingParty, webhook: WebhookReceiver) -> None:
    user = named_user(stack, "carol")
    enrolled = stack.admin("user", "set-totp", user.username)
    secret = parse_qs(urlparse(enrolled["otpauth_uri"]).query)["secret"][0]
    client, auth_req_id, link = await start(rp, webhook, user, acr_values="mfa", binding_message="Transfer #5521")
    await phone.goto(link)
    code_field = phone.get_by_label("Code from your authenticator app", exact=True)
    await expect(code_field).to_be_visible()
    await expect(code_field).to_have_attribute("inputmode", "numeric")
    await expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    await visited(phone, "login-mfa", primary=True)

    code = totp.code_at(secret, totp.step_at(datetime.now(UTC)))  # what the user's app shows now
    await sign_in(phone, user, code=code)
    await expect(phone.get_by_role("heading", name="Approve this request?")).to_be_visible()
    await visited(phone, None, primary=True)
    await phone.get_by_role("button", name="Approve").click()
    await expect(phone.get_by_role("heading", name="Approved")).to_be_visible()

    tokens = await rp.token(client, auth_req_id)
    assert tokens.status == 200, tokens
    claims = await rp.verify_id_token(tokens.body["id_token"])
    assert claims["acr"] == "mfa"


async def test_an_expired_link_shows_a_readable_page(
        phone: Page, stack: Stack, rp: RelyingParty, webhook: WebhookReceiver) -> None:
    user = named_user(stack, "dave")
    client, auth_req_id, link = await start(rp, webhook, user, requested_expiry="1")
    for _ in range(100):  # the request-processor's expiry sweep marks it
        if (await stack.admin_async("request", "show", auth_req_id))["status"] == "expired":
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the request did not expire")
    response = await phone.goto(link)
    assert response is not None and response.status == 410
    await expect(phone.get_by_role("heading", name="This request has expired")).to_be_visible()
    await expect(phone.get_by_text("Start again on the other device.")).to_be_visible()
    await visited(phone, "expired", primary=False)

    answer = await rp.token(client, auth_req_id)
    assert answer.body.get("error") == "expired_token", answer


async def test_the_account_page_sets_the_users_code(phone: Page, stack: Stack) -> None:
    user = named_user(stack, "erin")
    response = await phone.goto(f"{stack.issuer}/device/account/user-code")
    assert response is not None and response.status == 200
    await expect(phone.get_by_role("heading", name="Sign in to change your user code")).to_be_visible()
    await visited(phone, "account-login", primary=True)

    await sign_in(phone, user)
    await expect(phone.get_by_role("heading", name="Set your user code")).to_be_visible()
    await visited(phone, "account-user-code", primary=True)

    await phone.get_by_label("New user code").fill("river 42")
    await phone.get_by_label("The same code again").fill("river 24")
    await phone.get_by_role("button", name="Save").click()
    await expect(phone.get_by_role("alert")).to_have_text("The two codes are not the same.")
    await visited(phone, None, primary=True)

    await phone.get_by_label("New user code").fill("river 42")
    await phone.get_by_label("The same code again").fill("river 42")
    await phone.get_by_role("button", name="Save").click()
    await expect(phone.get_by_role("heading", name="User code changed")).to_be_visible()
    await visited(phone, "account-user-code-changed", primary=False)

    shown = stack.admin("user", "show", user.username)
    assert shown["user_code"] is True, shown


GOOD_PAGE = """<!doctype html><html lang="en"><head><title>t</title></head><body><form>
<input type="hidden" name="csrf_token" value="x">
<label for="u">Username</label><input id="u" name="u">
<label>Password <input type="password" name="p"></label>
<input aria-label="Code" name="c">
<button type="submit" class="primary" style="background:#1f5fd1;color:#fff">Sign in</button>
</form></body></html>"""


@pytest.mark.parametrize(("change", "complaint"), [
    (('<html lang="en">', "<html>"), "<html lang> is missing"),
    (('<label for="u">Username</label>', ""), "without a label"),
    (('<input aria-label="Code" name="c">', '<input aria-label="Code" name="c" tabindex="2">'), "positive tabindex"),
    (("color:#fff", "color:#6f8fd0"), "contrast"),
    (('<input id="u" name="u">', '<input id="u" name="u" style="outline:none">'), "does not show it"),
    (('type="submit" class="primary" style="', 'type="submit" class="primary" style="display:none;'),
     "expected a primary button"),
])
async def test_the_checks_catch_what_they_look_for(phone: Page, change: tuple[str, str], complaint: str) -> None:
    """The checks themselves: a page that passes, and the same page broken one way at a time."""
    await phone.set_content(GOOD_PAGE)
    await check_page(phone, expect_primary=True)
    await phone.set_content(GOOD_PAGE.replace(*change))
    with pytest.raises(AssertionError, match=complaint):
        await check_page(phone, expect_primary=True)
