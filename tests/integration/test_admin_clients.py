"""ciba-admin client add, show, update, remove and rotate-secret: the operator manages clients
with the same metadata rules as /register, and a client's secret is shown only once."""

from __future__ import annotations

import json

from tests.support.admin_cli import admin_json, ciba_admin
from tests.support.gateway_client import Client, add_user, register_raw


async def _authenticates(http, gateway, client_id: str, secret: str) -> bool:
    gateway.clients.clear()  # (the services drop a changed client on the NOTIFY every change sends)
    user = await add_user(gateway)
    answer = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                             headers=Client(client_id, secret).basic)
    return answer.status == 200


async def test_add_from_flags_or_a_metadata_file_and_the_secret_works(settings, http, gateway, tmp_path) -> None:
    added = admin_json(settings, "client", "add", "--name", "Call centre", "--delivery-mode", "poll")
    assert (added["client_name"], added["backchannel_token_delivery_mode"]) == ("Call centre", "poll")
    assert await _authenticates(http, gateway, added["client_id"], added["client_secret"])

    metadata = tmp_path / "kiosk.json"
    metadata.write_text(json.dumps({"client_name": "Kiosk", "backchannel_token_delivery_mode": "poll",
                                    "grant_types": ["urn:openid:params:grant-type:ciba", "refresh_token"],
                                    "contacts": ["ops@example.com"]}))
    kiosk = admin_json(settings, "client", "add", "--metadata", str(metadata), "--name", "Kiosk 2")
    assert (kiosk["client_name"], kiosk["contacts"], kiosk["grant_types"][-1]) == (
        "Kiosk 2", ["ops@example.com"], "refresh_token")


def test_metadata_that_register_would_refuse_is_refused(settings) -> None:
    refused = ciba_admin(settings, "client", "add", "--delivery-mode", "ping")
    assert refused.returncode == 1
    assert refused.stderr.startswith("ciba-admin: invalid client metadata: ")
    assert "backchannel_client_notification_endpoint is required" in refused.stderr


async def test_show_and_update_never_show_the_secret(settings, http) -> None:
    registered = await register_raw(http, client_name="Checkout", contacts=["a@example.com"])
    shown = admin_json(settings, "client", "show", registered["client_id"])
    assert shown["registration_access_token_issued"] is True
    assert registered["client_secret"] not in json.dumps(shown) and "client_secret" not in shown

    updated = admin_json(settings, "client", "update", registered["client_id"], "--name", "Checkout EU")
    assert (updated["client_name"], updated["contacts"]) == ("Checkout EU", ["a@example.com"])  # the rest stays
    assert admin_json(settings, "client", "show", registered["client_id"])["client_name"] == "Checkout EU"


async def test_rotate_secret_kills_the_old_one_at_once(settings, http, gateway) -> None:
    registered = await register_raw(http)
    rotated = admin_json(settings, "client", "rotate-secret", registered["client_id"])
    assert rotated["client_secret"] != registered["client_secret"]
    assert not await _authenticates(http, gateway, registered["client_id"], registered["client_secret"])
    assert await _authenticates(http, gateway, registered["client_id"], rotated["client_secret"])


async def test_remove(settings, http) -> None:
    registered = await register_raw(http)
    assert admin_json(settings, "client", "remove", registered["client_id"]) == {
        "client_id": registered["client_id"], "removed": True}
    gone = ciba_admin(settings, "client", "show", registered["client_id"])
    assert (gone.returncode, gone.stderr.strip()) == (1, f"ciba-admin: no client {registered['client_id']!r}")
