"""The few HTTP exchanges the library makes, in one place: JSON out of a GET, a form POST to a
provider endpoint, and turning an error answer into a typed exception.

Answers are read to at most MAX_BODY bytes: a provider's documents and token responses are
small, and a hostile or broken endpoint must not fill the relying party's memory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from ciba_client.errors import UnexpectedResponse, error_from_response

MAX_BODY = 256 * 1024
USER_AGENT = "ciba-client/0.1"


async def read_body(response: aiohttp.ClientResponse) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16384):
        size += len(chunk)
        if size > MAX_BODY:
            raise UnexpectedResponse(f"the answer from {response.url.path} exceeds {MAX_BODY} bytes",
                                     status=response.status)
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def parse_object(text: str, *, status: int, what: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        raise UnexpectedResponse(f"{what} is not JSON", status=status) from None
    if not isinstance(body, dict):
        raise UnexpectedResponse(f"{what} is not a JSON object", status=status)
    return body


async def get_json(session: aiohttp.ClientSession, url: str, *, timeout: float,
                   headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """GET a JSON object; a non-2xx answer raises its typed error. Redirects are not followed:
    discovery and JWKS URLs are the provider's own and must answer where they are named."""
    async with session.get(url, headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
                           allow_redirects=False, timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        text = await read_body(response)
        if not 200 <= response.status < 300:
            raise error_from_response(response.status, text, response.headers)
        return parse_object(text, status=response.status, what=f"the answer from {url}")


async def post_form(session: aiohttp.ClientSession, url: str, form: Mapping[str, str], *, timeout: float,
                    headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    """POST an application/x-www-form-urlencoded body; the status and the body's text, whatever
    the status (the caller decides what a 200 with an empty body means, e.g. revocation)."""
    sent = {"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    async with session.post(url, data=dict(form), headers=sent, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=timeout)) as response:
        text = await read_body(response)
        if not 200 <= response.status < 300:
            raise error_from_response(response.status, text, response.headers)
        return response.status, text

