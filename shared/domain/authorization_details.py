"""Rich authorization requests (RFC 9396) applied to CIBA: the ``authorization_details`` of an
authentication request, checked before it is stored.

A request's details are a JSON array of objects, each with a string ``type`` (section 2). A
type must be one the server supports (``authorizationDetailsTypesSupported``, published as
``authorization_details_types_supported``) and one the client registered in its
``authorization_details_types`` metadata (section 10); the common fields of section 2.2 must
have the RFC's types when present, and a ``payment_initiation`` detail (the shape of section
2.1's example) must say how much, in which currency. Anything else is refused with
``invalid_authorization_details`` (section 5): an authorization the user is asked to approve
is never silently trimmed.

The details travel as they were sent (once checked) into the request, the consent page, the
access token, the token response, the push payload and introspection.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any

from shared.errors import Errors, InvalidAuthorizationDetails

MAX_ENTRIES = 10
ERRORS: Errors = (InvalidAuthorizationDetails,)
MAX_BYTES = 8 * 1024  # of the compact JSON, however it arrived
MAX_DEPTH = 6  # the array, its objects, and four levels inside them
MAX_TYPE_LENGTH = 200
# RFC 9396 section 2.2: the common data fields, and the JSON type each must have.
_STRING_ARRAY_FIELDS = ("locations", "actions", "datatypes", "privileges")
_STRING_FIELDS = ("identifier",)
# Numbers a JSON reader anywhere reads exactly (IEEE doubles hold integers up to 2**53).
_MAX_SAFE_INTEGER = 2**53 - 1

PAYMENT_INITIATION = "payment_initiation"
_AMOUNT = re.compile(r"^[0-9]{1,15}(\.[0-9]{1,6})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def parse(raw: str) -> list[dict[str, Any]]:
    """The details out of the parameter's JSON text (the form value, or the request object's
    claim re-encoded), their structure checked; raises InvalidAuthorizationDetails."""
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES * 4:
        raise InvalidAuthorizationDetails(f"authorization_details must not exceed {MAX_BYTES} bytes")
    try:
        value = json.loads(raw, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise InvalidAuthorizationDetails("authorization_details is not valid JSON") from None
    return check_structure(value)


def check_structure(value: object) -> list[dict[str, Any]]:
    """RFC 9396 section 2: a non-empty JSON array of objects, each with a string type, and
    the common fields of section 2.2 of the right types; bounded in size and depth."""
    if not isinstance(value, list):
        raise InvalidAuthorizationDetails("authorization_details must be a JSON array")
    if not value:
        raise InvalidAuthorizationDetails("authorization_details must not be empty")
    if len(value) > MAX_ENTRIES:
        raise InvalidAuthorizationDetails(f"authorization_details must not hold more than {MAX_ENTRIES} objects")
    _check_values(value, depth=1)
    if len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()) > MAX_BYTES:
        raise InvalidAuthorizationDetails(f"authorization_details must not exceed {MAX_BYTES} bytes")
    for index, detail in enumerate(value):
        where = f"authorization_details[{index}]"
        if not isinstance(detail, dict):
            raise InvalidAuthorizationDetails(f"{where} must be a JSON object")
        kind = detail.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidAuthorizationDetails(f"{where}: type is required and must be a string")
        if len(kind) > MAX_TYPE_LENGTH:
            raise InvalidAuthorizationDetails(f"{where}: type is longer than {MAX_TYPE_LENGTH} characters")
        for name in _STRING_ARRAY_FIELDS:
            if name in detail and not _strings(detail[name]):
                raise InvalidAuthorizationDetails(f"{where}: {name} must be an array of strings")
        for name in _STRING_FIELDS:
            if name in detail and not isinstance(detail[name], str):
                raise InvalidAuthorizationDetails(f"{where}: {name} must be a string")
    return value


def check_types(details: list[dict[str, Any]], *, supported: Iterable[str], registered: Iterable[str]) -> None:
    """Section 5: a type the server does not support, or (section 10) one the client did not
    register in authorization_details_types, is refused."""
    supported, registered = set(supported), set(registered)
    for index, detail in enumerate(details):
        kind = detail["type"]
        if kind not in supported:
            raise InvalidAuthorizationDetails(
                f"authorization_details[{index}]: type {_shown(kind)} is not supported by this server")
        if kind not in registered:
            raise InvalidAuthorizationDetails(
                f"authorization_details[{index}]: type {_shown(kind)} is not among the client's "
                "registered authorization_details_types")
        if kind == PAYMENT_INITIATION:
            _check_payment(detail, f"authorization_details[{index}]")


def validate(raw: str, *, supported: Iterable[str], registered: Iterable[str]) -> list[dict[str, Any]]:
    details = parse(raw)
    check_types(details, supported=supported, registered=registered)
    return details


def registered_types(client_metadata: dict[str, Any]) -> list[str]:
    """The types a client registered (its authorization_details_types metadata), if any."""
    types = client_metadata.get("authorization_details_types") or []
    return [t for t in types if isinstance(t, str)]


def _check_payment(detail: dict[str, Any], where: str) -> None:
    """The payment of RFC 9396 section 2.1: the consent page must be able to say how much,
    in which currency, and to whom when the client names the creditor."""
    amount = detail.get("instructedAmount")
    if not isinstance(amount, dict):
        raise InvalidAuthorizationDetails(f"{where}: instructedAmount (currency and amount) is required")
    if not isinstance(amount.get("currency"), str) or not _CURRENCY.match(amount["currency"]):
        raise InvalidAuthorizationDetails(f"{where}: instructedAmount.currency must be an ISO 4217 code")
    if not isinstance(amount.get("amount"), str) or not _AMOUNT.match(amount["amount"]):
        raise InvalidAuthorizationDetails(f"{where}: instructedAmount.amount must be a decimal string (123.50)")
    for name in ("creditorName", "remittanceInformationUnstructured"):
        if name in detail and not isinstance(detail[name], str):
            raise InvalidAuthorizationDetails(f"{where}: {name} must be a string")
    account = detail.get("creditorAccount")
    if account is not None:
        if not isinstance(account, dict) or not all(isinstance(v, str) for v in account.values()):
            raise InvalidAuthorizationDetails(f"{where}: creditorAccount must be an object of strings")


def _check_values(value: object, depth: int) -> None:
    """Depth, and what every JSON store and reader downstream takes: finite numbers in the
    exact integer range, text without NUL or lone surrogates (Postgres jsonb refuses both)."""
    if depth > MAX_DEPTH:
        raise InvalidAuthorizationDetails(f"authorization_details must not nest deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for name, member in value.items():
            _check_text(name)
            _check_values(member, depth + 1)
    elif isinstance(value, list):
        for member in value:
            _check_values(member, depth + 1)
    elif isinstance(value, str):
        _check_text(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if abs(value) > _MAX_SAFE_INTEGER:
            raise InvalidAuthorizationDetails("authorization_details holds an integer too large to be exact")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidAuthorizationDetails("authorization_details holds a number that is not finite")
    else:  # pragma: no cover - JSON has no other types
        raise InvalidAuthorizationDetails("authorization_details holds a value that is not JSON")


def _check_text(text: str) -> None:
    if "\x00" in text or any("\ud800" <= ch <= "\udfff" for ch in text):
        raise InvalidAuthorizationDetails("authorization_details holds text with a NUL or an unpaired surrogate")


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A member named twice would let the consent page and a resource server read different
    values: refused."""
    members: dict[str, Any] = {}
    for name, value in pairs:
        if name in members:
            raise InvalidAuthorizationDetails(f"authorization_details names the member '{name[:64]}' twice")
        members[name] = value
    return members


def _no_constant(name: str) -> None:
    raise InvalidAuthorizationDetails(f"authorization_details holds {name}, which is not JSON")


def _shown(kind: str) -> str:
    return f"'{kind[:64]}'"  # error_description's character set has no double quote


def flatten(detail: dict[str, Any], *, skip: tuple[str, ...] = ("type",)) -> list[tuple[str, str]]:
    """A detail as readable (name, value) lines for the consent page: nested objects flattened
    to dotted names (``instructedAmount.currency``), arrays of plain values joined with commas,
    arrays of objects numbered (``accounts.1.iban``)."""
    lines: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            if not value:
                lines.append((prefix, "{}"))
            for name, member in value.items():
                walk(f"{prefix}.{name}" if prefix else name, member)
        elif isinstance(value, list) and any(isinstance(item, dict | list) for item in value):
            for position, item in enumerate(value, start=1):
                walk(f"{prefix}.{position}", item)
        elif isinstance(value, list):
            lines.append((prefix, ", ".join(_plain(item) for item in value)))
        else:
            lines.append((prefix, _plain(value)))

    for name, value in detail.items():
        if name not in skip:
            walk(name, value)
    return lines


def _plain(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
