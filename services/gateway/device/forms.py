"""Reading the device pages' HTML form posts: url-encoded only, every field cut to a bound."""

from __future__ import annotations

from aiohttp import web

MAX_FIELD_LENGTH = 1024


async def read_page_form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise web.HTTPBadRequest(reason="Unexpected form encoding")
    data = await request.post()
    return {k: v[:MAX_FIELD_LENGTH] for k, v in data.items() if isinstance(v, str)}
