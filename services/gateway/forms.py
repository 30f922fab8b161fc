"""Reading request parameters the way OAuth 2.0 requires (RFC 6749 3.1, 3.2): form-encoded
bodies only, each parameter at most once, empty values treated as absent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from shared.errors import Errors, InvalidRequest

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
ERRORS: Errors = (InvalidRequest,)
# Parameters whose value is JSON text in a form, and a JSON value in a request object's claims.
JSON_PARAMETERS = frozenset({"authorization_details"})


class Form:
    """Request parameters: a form body, or the claims of a signed request object."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self._data = data

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], names: tuple[str, ...]) -> Form:
        """The parameters ``names`` from a JWT's claims. A JSON number is accepted where a
        number is meant (requested_expiry); a JSON-valued parameter (authorization_details, a
        JSON array in a request object: RFC 9396 3) is kept as its JSON text, read like the
        form's; everything else must be a string."""
        values: dict[str, str] = {}
        for name in names:
            value = claims.get(name)
            if value is None:
                continue
            if name in JSON_PARAMETERS:
                try:
                    values[name] = json.dumps(value, ensure_ascii=False)
                except (ValueError, RecursionError):
                    raise InvalidRequest(f"{name} in the signed request is not valid JSON") from None
            elif isinstance(value, int) and not isinstance(value, bool):
                values[name] = str(value)
            elif isinstance(value, str):
                values[name] = value
            else:
                raise InvalidRequest(f"{name} in the signed request must be a string")
        return cls(values)

    def present(self, names: tuple[str, ...]) -> list[str]:
        return [name for name in names if name in self]

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
