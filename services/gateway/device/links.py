"""Which page a request's link opens (README, "The authentication device's pages").

The reference is single-use and unguessable; it never is the auth_req_id. Unknown -> 404;
used, expired, or burnt by too many failed sign-ins (wrong password or wrong code) -> 410;
otherwise the request's page, for the user the request names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.gateway.acr import required_level
from services.gateway.device import PREFIX, locale
from services.gateway.device.gone import PageGone
from services.gateway.device.locale import gettext as _
from services.gateway.device.session import DeviceSession
from shared.crypto import Secrets
from shared.domain.auth_request import AuthRequest, Status
from shared.repositories.clients import Client
from shared.repositories.device_refs import DeviceRef

MAX_FAILED_LOGINS = 5
MAX_REF_LENGTH = 100


class DeviceLinks(Protocol):
    """The links to requests' pages, each with its count of failed sign-ins."""

    async def with_request(self, ref_hashes: list[bytes]) -> tuple[DeviceRef, AuthRequest | None] | None: ...

    async def reserve_login_attempt(self, ref_hash: bytes, max_attempts: int) -> bool: ...

    async def release_login_attempt(self, ref_hash: bytes) -> None: ...


class Clients(Protocol):
    """Registered clients, for the name a page shows (services.gateway.client_cache.ClientCache)."""

    async def get(self, client_id: str) -> Client | None: ...


@dataclass(frozen=True)
class Page:
    ref: str
    ref_hash: bytes
    request: AuthRequest
    client_name: str

    @property
    def base(self) -> str:
        return f"{PREFIX}/{self.ref}"

    @property
    def required_acr(self) -> str:
        return required_level(self.request.acr_values)

    def signed_in(self, session: DeviceSession) -> bool:
        """By the user the request names, to the level it asks for."""
        return session.sub == self.request.sub and session.acr == self.required_acr


def not_found() -> PageGone:
    return PageGone(404, _("Request not found"), _("This link is not valid."))


def locked() -> PageGone:
    return PageGone(410, _("Too many attempts"), _("This link was locked after too many failed sign-in attempts."))


def refusal(link: DeviceRef, request: AuthRequest | None, now: datetime) -> PageGone | None:
    """Why the link opens no page, or None when it opens its request's page. An expired
    request reads as expired, before and after the expiry sweep marked it (and used up its
    links)."""
    expired = request is not None and (request.status is Status.EXPIRED
                                       or (request.status is Status.PENDING and request.expires_at <= now))
    if expired:
        return PageGone(410, _("This request has expired"),
                        _("This sign-in request has expired. Start again on the other device."))
    if request is None or link.used_at is not None or request.status is not Status.PENDING:
        return PageGone(410, _("This request is closed"),
                        _("This sign-in request has already been answered or has ended."))
    if link.failed_logins >= MAX_FAILED_LOGINS:
        return locked()
    return None


async def load(ref: str, *, links: DeviceLinks, clients: Clients, secrets: Secrets, now: datetime) -> Page:
    """The page ``ref`` opens; raises PageGone when it opens none. The request's ui_locales
    choose the language from here on."""
    if len(ref) > MAX_REF_LENGTH:
        raise not_found()
    found = await links.with_request(secrets.hashes(ref))
    if found is None:
        raise not_found()
    link, request = found
    if request is not None:
        locale.prefer(request.ui_locales)
    gone = refusal(link, request, now)
    if gone is not None:
        raise gone
    assert request is not None  # a missing request was refused above, as closed
    client = await clients.get(request.client_id)
    # The hash as stored: under the master key it was made with.
    return Page(ref, link.ref_hash, request, client.display_name if client else request.client_id)
