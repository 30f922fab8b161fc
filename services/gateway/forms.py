"""Reading request parameters the way OAuth 2.0 requires (RFC 6749 3.1, 3.2): form-encoded
bodies only, each parameter at most once, empty values treated as absent."""

from __future__ import annotations

from aiohttp import web
from multidict import MultiDictProxy

from shared.errors import InvalidRequest

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


class Form:
    def __init__(self, data: MultiDictProxy[str]) -> None:
        self._data = data

    def get(self, name: str) -> str | None:
        value = self._data.get(name)
        return value if value else None

    def require(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise InvalidRequest(f"{name} is required")
        return value

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None


async def read_form(request: web.Request) -> Form:
    if request.content_type != FORM_CONTENT_TYPE:
        raise InvalidRequest(f"the request body must be {FORM_CONTENT_TYPE}")
    if request.query_string:
        raise InvalidRequest("parameters must be sent in the request body, not the query string")
    try:
        data = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the request body is not valid form encoding") from None
    values: MultiDictProxy[str] = data  # type: ignore[assignment]
    for name in set(values.keys()):
        if len(values.getall(name)) > 1:
            raise InvalidRequest(f"{name} must not be repeated")
        if not isinstance(values[name], str):
            raise InvalidRequest(f"{name} must be a plain form value")
    return Form(values)
