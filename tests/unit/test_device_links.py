"""Which page a device link opens (services/gateway/device/links.py), as a table over links and
requests in memory: unknown -> 404, closed, expired or locked -> 410, else the request's page
in the request's language. Nothing touches Postgres."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from cryptography.fernet import Fernet

from services.gateway.device import locale
from services.gateway.device.gone import PageGone
from services.gateway.device.links import MAX_FAILED_LOGINS, Page, load
from services.gateway.device.session import DeviceSession
from shared.crypto import Secrets
from shared.domain.auth_request import AuthRequest, DeliveryMode, Status
from shared.repositories.clients import CIBA_GRANT, Client
from shared.repositories.device_refs import DeviceRef

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRETS = Secrets(Fernet.generate_key())
REF = "a-link-of-forty-three-characters-xxxxxxxxxx"
REQUEST = AuthRequest(
    id=uuid4(), auth_req_id_hash=b"h", auth_req_id_enc="e", client_id="c1", sub="u-alice",
    delivery_mode=DeliveryMode.POLL, scope=["openid"], acr_values=None, binding_message="7Q",
    client_notification_token_enc=None, status=Status.PENDING, interval_sec=5, created_at=NOW - timedelta(minutes=1),
    expires_at=NOW + timedelta(minutes=4), decided_at=None, auth_time=None, acr=None, failure_reason=None,
    tokens_issued_at=None)
LINK = DeviceRef(ref_hash=SECRETS.hash(REF), auth_request_id=REQUEST.id, used_at=None, failed_logins=0)
SHOP = Client(client_id="c1", client_secret_hash=None, client_name="Shop", token_endpoint_auth_method="none",
              grant_types=[CIBA_GRANT], scope=["openid"], backchannel_token_delivery_mode=DeliveryMode.POLL,
              backchannel_client_notification_endpoint=None, backchannel_authentication_request_signing_alg=None,
              backchannel_user_code_parameter=False, id_token_signed_response_alg="ES256", metadata={}, created_at=NOW)


@dataclass
class Links:
    """links.DeviceLinks over one stored link (or none), found by any of the hashes asked for."""

    stored: tuple[DeviceRef, AuthRequest | None] | None
    asked: int = 0

    async def with_request(self, ref_hashes: list[bytes]) -> tuple[DeviceRef, AuthRequest | None] | None:
        self.asked += 1
        return self.stored if self.stored is not None and self.stored[0].ref_hash in ref_hashes else None

    async def reserve_login_attempt(self, ref_hash: bytes, max_attempts: int) -> bool:
        raise AssertionError("loading a page counts no attempt")

    async def release_login_attempt(self, ref_hash: bytes) -> None:
        raise AssertionError("loading a page counts no attempt")


@dataclass
class Clients:
    registered: dict[str, Client] = field(default_factory=lambda: {"c1": SHOP})

    async def get(self, client_id: str) -> Client | None:
        return self.registered.get(client_id)


@pytest.fixture(autouse=True)
def english() -> None:
    locale.use("en")


async def opened(stored: tuple[DeviceRef, AuthRequest | None] | None, ref: str = REF,
                 clients: Clients | None = None) -> Page:
    return await load(ref, links=Links(stored), clients=clients or Clients(), secrets=SECRETS, now=NOW)


CLOSED = (410, "This request is closed")
EXPIRED = (410, "This request has expired")
LOCKED = (410, "Too many attempts")


@pytest.mark.parametrize(("link", "request_", "gone"), [
    (LINK, None, CLOSED),  # the request was removed (retention)
    (replace(LINK, used_at=NOW), REQUEST, CLOSED),  # decided through another link
    (LINK, replace(REQUEST, status=Status.APPROVED), CLOSED),
    (LINK, replace(REQUEST, status=Status.DENIED), CLOSED),
    (LINK, replace(REQUEST, status=Status.TOKENS_ISSUED), CLOSED),
    (LINK, replace(REQUEST, status=Status.FAILED), CLOSED),
    (LINK, replace(REQUEST, status=Status.EXPIRED), EXPIRED),
    (replace(LINK, used_at=NOW), replace(REQUEST, status=Status.EXPIRED), EXPIRED),  # the sweep used its links
    (LINK, replace(REQUEST, expires_at=NOW), EXPIRED),  # before the sweep marked it
    (replace(LINK, failed_logins=MAX_FAILED_LOGINS), replace(REQUEST, expires_at=NOW), EXPIRED),
    (replace(LINK, failed_logins=MAX_FAILED_LOGINS), REQUEST, LOCKED),
    (replace(LINK, failed_logins=MAX_FAILED_LOGINS + 3), REQUEST, LOCKED),
])
async def test_a_link_that_opens_no_page_is_gone(link, request_, gone) -> None:
    with pytest.raises(PageGone) as raised:
        await opened((link, request_))
    assert (raised.value.status, raised.value.title) == gone


async def test_an_unknown_link_is_not_found() -> None:
    with pytest.raises(PageGone) as raised:
        await opened(None)
    assert (raised.value.status, raised.value.title, raised.value.message) == \
        (404, "Request not found", "This link is not valid.")


async def test_an_overlong_link_is_not_found_without_a_look_up() -> None:
    links = Links((LINK, REQUEST))
    with pytest.raises(PageGone) as raised:
        await load("x" * 101, links=links, clients=Clients(), secrets=SECRETS, now=NOW)
    assert raised.value.status == 404 and links.asked == 0


@pytest.mark.parametrize("failed_logins", [0, MAX_FAILED_LOGINS - 1])
async def test_a_live_link_opens_its_request_page(failed_logins) -> None:
    page = await opened((replace(LINK, failed_logins=failed_logins), REQUEST))
    assert (page.ref, page.ref_hash, page.request, page.client_name) == (REF, LINK.ref_hash, REQUEST, "Shop")
    assert page.base == f"/device/{REF}"


async def test_a_link_stored_under_an_older_master_key_keeps_its_stored_hash() -> None:
    older_key = Fernet.generate_key()
    stored_hash = Secrets(older_key).hash(REF)
    rotated = Secrets([Fernet.generate_key(), older_key])
    page = await load(REF, links=Links((replace(LINK, ref_hash=stored_hash), REQUEST)), clients=Clients(),
                      secrets=rotated, now=NOW)
    assert page.ref_hash == stored_hash


async def test_a_client_gone_from_the_registry_is_named_by_its_id() -> None:
    page = await opened((LINK, REQUEST), clients=Clients({}))
    assert page.client_name == "c1"


async def test_the_request_ui_locales_choose_the_language_of_what_is_gone() -> None:
    with pytest.raises(PageGone) as raised:
        await opened((LINK, replace(REQUEST, status=Status.EXPIRED, ui_locales="de fr")))
    assert (raised.value.language, raised.value.title) == ("fr", "Cette demande a expiré")


@pytest.mark.parametrize(("acr_values", "sub", "acr", "signed_in"), [
    (None, "u-alice", "pwd", True),
    (None, "u-bob", "pwd", False),  # another account
    (["mfa"], "u-alice", "pwd", False),  # below the level the request asks for
    (["mfa"], "u-alice", "mfa", True),
    (None, "u-alice", "mfa", False),  # a session is for one level exactly
])
def test_only_the_named_user_at_the_asked_level_is_signed_in(acr_values, sub, acr, signed_in) -> None:
    page = Page(REF, LINK.ref_hash, replace(REQUEST, acr_values=acr_values), "Shop")
    session = DeviceSession(binding=LINK.ref_hash.hex(), sub=sub, auth_time=NOW, acr=acr, csrf_token="t")
    assert page.signed_in(session) is signed_in
