"""The device pages' sub-application (services/gateway/device/app.py): whatever goes wrong on a
page is a page, in the user's language, while the protocol's routes beside it keep their JSON;
and routes keep their /device prefix in names (logs, metrics). An app in memory over loopback;
no Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from services.gateway.context import GATEWAY
from services.gateway.device import PREFIX, locale
from services.gateway.device.app import pages_errors_middleware
from services.gateway.device.gone import PageGone
from services.gateway.device.locale import gettext as _
from services.gateway.device.render import Templates
from services.gateway.middleware import deadline_middleware, errors_middleware, route_name
from services.gateway.password_checks import ChecksBusy
from shared.config.model import ServerConfig

# What the deadline reads of the gateway: a budget short enough for a test.
GATEWAY_STUB = SimpleNamespace(rt=SimpleNamespace(settings=SimpleNamespace(http_request_timeout_sec=0.05),
                                                  config=ServerConfig()),
                               templates=Templates())


def closed() -> PageGone:
    return PageGone(410, _("This request is closed"), _("This sign-in request has already been answered or has ended."))


async def in_french_then_closed() -> web.Response:
    locale.use("fr")  # as a request's ui_locales do, inside the handler
    raise closed()


async def too_slow() -> web.Response:
    await asyncio.sleep(5)
    return web.Response(text="late")


FAILURES = {
    "closed": lambda: closed(),
    "unavailable": lambda: ConnectionRefusedError("connection refused"),
    "broken": lambda: asyncpg.exceptions.ConnectionDoesNotExistError("gone"),
    "busy": lambda: ChecksBusy(retry_after=3),
    "bug": lambda: RuntimeError("a bug"),
    "bad-form": lambda: web.HTTPBadRequest(reason="Unexpected form encoding"),
}
ROUTES: dict[str, str] = {}


async def page(request: web.Request) -> web.Response:
    ref = request.match_info["ref"]
    ROUTES[ref] = route_name(request)
    if ref == "french":
        return await in_french_then_closed()
    if ref == "slow":
        return await too_slow()
    if ref in FAILURES:
        raise FAILURES[ref]()
    return web.Response(text="a page", content_type="text/html")


async def protocol_endpoint(request: web.Request) -> web.Response:
    if request.query.get("slow"):
        return await too_slow()
    raise ConnectionRefusedError("connection refused")


@pytest.fixture
async def http() -> AsyncIterator[TestClient]:
    pages = web.Application(middlewares=[pages_errors_middleware, deadline_middleware])
    pages.router.add_get("/{ref}", page)
    pages.router.add_post("/{ref}/login", page)
    pages[GATEWAY] = GATEWAY_STUB
    app = web.Application(middlewares=[errors_middleware, deadline_middleware])
    app.router.add_get("/token", protocol_endpoint)
    app[GATEWAY] = GATEWAY_STUB
    app.add_subapp(PREFIX, pages)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.mark.parametrize(("ref", "status", "title", "retry_after"), [
    ("closed", 410, "This request is closed", None),
    ("unavailable", 503, "Briefly unavailable", "2"),
    ("broken", 503, "Briefly unavailable", "2"),
    ("slow", 503, "Briefly unavailable", "2"),  # the deadline of the pages' own app, inside its error pages
    ("busy", 429, "Busy", "3"),
    ("bug", 500, "Something went wrong", None),
    ("bad-form", 400, "Unexpected form encoding", None),
])
async def test_what_goes_wrong_on_a_page_is_a_page(http, ref, status, title, retry_after) -> None:
    response = await http.get(f"/device/{ref}")
    html = await response.text()
    assert (response.status, response.content_type) == (status, "text/html")
    assert f"<h1>{title}</h1>" in html
    assert response.headers.get("Retry-After") == retry_after
    assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(("path", "method", "status"), [
    ("/device/a/b/c", "GET", 404),  # no such page: still a page
    ("/device/", "GET", 404),
    ("/device/x/login", "GET", 405),
])
async def test_a_path_under_the_prefix_that_matches_no_page_is_a_page(http, path, method, status) -> None:
    response = await http.request(method, path)
    assert (response.status, response.content_type) == (status, "text/html")


@pytest.mark.parametrize(("path", "status"), [("/token", 503), ("/token?slow=1", 503), ("/nothing", 404)])
async def test_the_protocol_routes_beside_the_pages_keep_their_json(http, path, status) -> None:
    response = await http.get(path)
    assert response.status == status and response.content_type == "application/json"
    assert (await response.json())["error"]


async def test_a_page_speaks_the_browser_language(http) -> None:
    response = await http.get("/device/unavailable", headers={"Accept-Language": "fr-FR, en;q=0.5"})
    assert response.headers["Content-Language"] == "fr" and "Momentanément indisponible" in await response.text()


async def test_a_gone_page_is_rendered_in_the_language_its_words_were_chosen_in(http) -> None:
    response = await http.get("/device/french", headers={"Accept-Language": "en"})
    html = await response.text()
    assert response.status == 410 and response.headers["Content-Language"] == "fr"
    assert '<html lang="fr"' in html and "Cette demande est close" in html


async def test_routes_are_named_with_the_prefix(http) -> None:
    await http.get("/device/plain")
    await http.post("/device/plain-post/login")
    assert (ROUTES["plain"], ROUTES["plain-post"]) == ("/device/{ref}", "/device/{ref}/login")
