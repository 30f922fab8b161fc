"""The ``apns`` plugin's configuration and logs, against the local fake of Apple's provider API: an
unusable configuration is a permanent failure that never shows the key, and the logs (structlog's
and httpx's, h2's and the like) name devices by id and never carry device tokens, provider
tokens or keys. No database or broker needed."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from structlog.testing import capture_logs

from tests.integration.apns_support import clocks as clocks  # pytest fixture
from tests.integration.apns_support import context
from tests.integration.apns_support import fake as fake  # pytest fixture
from tests.integration.apns_support import key as key  # pytest fixture
from tests.integration.apns_support import pki as pki  # pytest fixture
from tests.integration.apns_support import plugin as plugin  # pytest fixture
from tests.support.fake_apns import generate_apns_key
from tests.support.notification_context import device

# -- configuration -----------------------------------------------------------------------------


def _pem(private: Any) -> str:
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()


RSA_PEM = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
P384_PEM = _pem(ec.generate_private_key(ec.SECP384R1()))
BROKEN_PEM = "-----BEGIN PRIVATE KEY-----\nAAAAsecretAAAA\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("change", [
    {"team_id": None},
    {"key_id": "short"},
    {"private_key": None},
    {"private_key": "not a key"},
    {"private_key": BROKEN_PEM},
    {"private_key": RSA_PEM},
    {"private_key": P384_PEM},
    {"topic": None},
    {"topic": "com.example.app\r\nx-evil: 1"},
    {"host": None, "environment": "staging"},
    {"host": "https://api.push.apple.com/3"},
    {"host": "127.0.0.1:99999"},
    {"timeout": "soon"},
    {"timeout": 0},
    {"ca_file": "/nonexistent/ca.pem"},
])
async def test_an_unusable_configuration_is_a_permanent_failure_that_never_shows_the_key(
        fake, key, plugin, change):
    config = {k: v for k, v in {**fake.config(key), **change}.items() if v is not None}

    with capture_logs() as logs:
        result = await plugin.notify(context(config, [device("tok-phone")]))

    assert not result.ok and result.permanent
    assert result.detail.startswith("apns: apns.")
    assert [e["event"] for e in logs] == ["apns_misconfigured"]
    text = repr(logs) + repr(result)
    assert not [s for s in ("PRIVATE KEY", "secret", *pem_lines(config.get("private_key", ""))) if s in text]
    assert fake.connections == []


# -- logs ------------------------------------------------------------------------------------


def pem_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if len(line) >= 16 and "PRIVATE KEY" not in line]


async def test_logs_name_devices_by_id_and_never_carry_tokens_or_keys(fake, key, plugin, clocks, caplog):
    caplog.set_level(logging.DEBUG)  # httpx, httpcore, hpack and h2 included
    fake.answers.update({"tok-secret-gone": 410, "tok-secret-busy": 503})
    devices = [device("tok-secret-phone", "dev-1"), device("tok-secret-gone", "dev-2"),
               device("tok-secret-busy", "dev-3")]
    impostor = generate_apns_key(key.team_id, key.key_id)

    with capture_logs() as logs:
        first = await plugin.notify(context(fake.config(key), devices))
        clocks.wall_offset += 3601
        second = await plugin.notify(context(fake.config(key), devices))
        third = await plugin.notify(context(fake.config(key, private_key=impostor.private_key), devices))
        fourth = await plugin.notify(context(fake.config(key, private_key=BROKEN_PEM), devices))

    outcomes = {(e["device_id"], e["outcome"]) for e in logs if e["event"] == "apns_device_notified"}
    assert outcomes >= {("dev-1", "sent"), ("dev-2", "unregistered"), ("dev-3", "retryable")}
    assert third.permanent and fourth.permanent
    assert any("/3/device/<redacted>" in r.getMessage() for r in caplog.records if r.name == "httpx")

    text = repr(logs) + caplog.text + repr([first, second, third, fourth])
    secrets = [*fake.provider_tokens, "tok-secret", "PRIVATE KEY", "AAAAsecretAAAA",
               *pem_lines(key.private_key), *pem_lines(impostor.private_key)]
    assert len(fake.provider_tokens) == 2
    leaked = [s for s in secrets if s in text]
    assert leaked == []
