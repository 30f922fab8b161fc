"""Shared by the rich authorization request tests (test_authorization_details_*.py): a
payment_initiation detail as RFC 9396 shows one, a client registered for its type, a request at
/bc-authorize with details in the form, and the request as stored."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from shared.repositories import auth_requests
from tests.support.gateway_client import Client, register

PAYMENT = {
    "type": "payment_initiation",
    "actions": ["initiate", "status", "cancel"],
    "locations": ["https://example.com/payments"],
    "instructedAmount": {"currency": "EUR", "amount": "123.50"},
    "creditorName": "Merchant A",
    "creditorAccount": {"iban": "DE02100100109307118603"},
    "remittanceInformationUnstructured": "Ref Number Merchant",
}
PAYMENTS = ["payment_initiation"]


async def payment_client(http: TestClient, **metadata: Any) -> Client:
    return await register(http, authorization_details_types=PAYMENTS, **metadata)


async def bc_authorize(http: TestClient, client: Client, login_hint: str, **data: str) -> tuple[int, dict]:
    response = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": login_hint, **data},
                               headers=client.basic)
    return response.status, await response.json()


async def stored(gateway, auth_req_id: str):
    return await auth_requests.get_by_hash(gateway.rt.pool, gateway.rt.secrets.hashes(auth_req_id))


def _payment(**changes: Any) -> dict:
    return {key: value for key, value in {**PAYMENT, **changes}.items() if value is not None}
