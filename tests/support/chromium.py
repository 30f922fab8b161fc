"""Headless Chromium for the device-page tests: the system's browser (Debian's ``chromium``
package), driven by Playwright's async API. Playwright's own browser downloads are never used
(``playwright install`` is not needed): the executable is passed as ``executable_path``.

CIBA_CHROMIUM names the executable; otherwise ``chromium`` (or ``chromium-browser``) on PATH.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

ENV_VAR = "CIBA_CHROMIUM"
NO_CHROMIUM = "no Chromium: apt-get install chromium, or set CIBA_CHROMIUM"
# We run as root (CI, containers): Chromium's sandbox needs an unprivileged user.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--font-render-hinting=none"]
# A phone: Playwright's descriptor of a Pixel 5 (393 x 727 CSS pixels, touch, mobile
# viewport), with English asked for (Accept-Language), so the pages and screenshots are English.
PHONE = "Pixel 5"
LOCALE = "en-US"


def find_chromium() -> str | None:
    """The executable to launch, or None when there is none."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        found = shutil.which(configured)
        return found if found else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


@dataclass(frozen=True)
class Chromium:
    browser: Any  # playwright.async_api.Browser
    phone: dict[str, Any]  # new_context() options

    async def new_phone_context(self) -> Any:
        return await self.browser.new_context(**self.phone, locale=LOCALE)


@asynccontextmanager
async def launched(executable: str) -> AsyncIterator[Chromium]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, headless=True, args=LAUNCH_ARGS)
        try:
            yield Chromium(browser, dict(playwright.devices[PHONE]))
        finally:
            await browser.close()
