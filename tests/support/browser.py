"""A minimal browser for the device pages: keeps cookies, reads forms, submits them."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import aiohttp


@dataclass
class Form:
    action: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", "")))
        elif self.forms and tag == "input":
            name = a.get("name")
            if name:
                self.forms[-1].inputs.append(name)
                if a.get("type") == "hidden":
                    self.forms[-1].fields[name] = a.get("value", "")
        elif self.forms and tag == "button" and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


@dataclass
class Page:
    url: str
    status: int
    html: str

    @property
    def form(self) -> Form:
        forms = parse_forms(self.html)
        assert forms, f"no form on page (HTTP {self.status}):\n{self.html[:2000]}"
        return forms[0]


class Browser:
    def __init__(self) -> None:
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def get(self, url: str) -> Page:
        async with self.session.get(url) as response:
            return Page(str(response.url), response.status, await response.text())

    async def submit(self, page: Page, values: dict[str, str]) -> Page:
        form = page.form
        url = urljoin(page.url, form.action)
        async with self.session.post(url, data={**form.fields, **values}) as response:
            return Page(str(response.url), response.status, await response.text())

    async def login_and_decide(self, url: str, username: str, password: str, decision: str) -> Page:
        login = await self.get(url)
        consent = await self.submit(login, {"username": username, "password": password})
        return await self.submit(consent, {"decision": decision})

    async def close(self) -> None:
        await self.session.close()


async def decide_on_device(url: str, username: str, password: str, decision: str = "approve") -> Page:
    """Open the link a notification carried, sign in, and approve or deny, in a fresh browser."""
    browser = Browser()
    try:
        return await browser.login_and_decide(url, username, password, decision)
    finally:
        await browser.close()
