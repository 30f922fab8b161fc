"""A device page that cannot be shown: what it says, not how (services.gateway.device.app
renders it)."""

from __future__ import annotations

from services.gateway.device import locale


class PageGone(Exception):
    """The link is unknown (404), or its request is closed, expired or locked (410). Title and
    message are already in the page's language, which is kept with them: the page is rendered
    outside the handler, where a request's ui_locales no longer apply."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.message = message
        self.language = locale.current()
