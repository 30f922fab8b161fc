"""The ``email`` and ``webhook`` plugins' sections of cibaEndUserNotificationConfig: what they
make of them, and the message that names a setting that cannot work (``apns`` and ``fcm`` in
their own files). And loading the plugins changes nothing global until one is made."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.notifier.plugins.email import ConfigError, settings_from
from services.notifier.plugins.webhook import WebhookNotifier
from tests.support.notification_context import notification_context

EMAIL = {"host": " smtp.example.com ", "from": "CIBA <no-reply@as.example.com>"}


def test_email_defaults_to_starttls_on_587():
    settings = settings_from(EMAIL)

    assert (settings.host, settings.port, settings.starttls, settings.implicit_tls) == ("smtp.example.com", 587,
                                                                                       True, False)
    assert (settings.sender, settings.sender_domain) == ("CIBA <no-reply@as.example.com>", "as.example.com")
    assert (settings.timeout, settings.subject) == (10.0, "Sign-in request from {client_name}")


def test_email_implicit_tls_takes_465_and_leaves_starttls_unread():
    settings = settings_from({**EMAIL, "tls": "true", "starttls": "sometimes", "port": None})

    assert (settings.port, settings.starttls, settings.implicit_tls, settings.encrypted) == (465, False, True, True)


def test_email_password_never_shows_in_the_settings():
    assert "pw-secret" not in repr(settings_from({**EMAIL, "username": "ciba", "password": "pw-secret"}))


@pytest.mark.parametrize(("change", "message"), [
    ({"host": " "}, "email.host is not configured"),
    ({"tls": "sometimes"}, "email.tls must be true or false"),
    ({"starttls": 1}, "email.starttls must be true or false"),
    ({"port": "smtp"}, "email.port is not a port number"),
    ({"port": 65536}, "email.port is not a port number"),
    ({"from": "not an address"}, "email.from is not an email address"),
    ({"timeout": "soon"}, "email.timeout is not a number"),
    ({"username": "ciba", "starttls": False},
     "email.username is set but neither starttls nor tls is on: credentials are never sent in clear"),
    ({"from": None, "port": "smtp"}, "email.port is not a port number"),  # the first in order
])
def test_email_tells_the_operator_which_setting_is_wrong(change, message):
    with pytest.raises(ConfigError) as refused:
        settings_from({**EMAIL, **change})

    assert str(refused.value) == message


@pytest.mark.parametrize(("config", "detail"), [
    ({"url": "ftp://hooks.example.com"}, "webhook.url is not configured"),
    ({"url": "https://hooks.example.com", "timeout": "soon"}, "webhook.timeout must be a number of seconds"),
])
async def test_a_webhook_setting_that_cannot_work_is_a_permanent_failure_naming_it(config, detail):
    result = await WebhookNotifier().notify(notification_context(config=config))

    assert (result.ok, result.permanent, result.detail) == (False, True, detail)


def test_loading_the_plugins_changes_no_logging_until_apns_is_made_and_then_once():
    check = "\n".join([
        "import logging",
        "from services.notifier.plugins.registry import BUILT_IN",
        "httpx, hpack = logging.getLogger('httpx'), logging.getLogger('hpack')",
        "assert (httpx.filters, hpack.level) == ([], logging.NOTSET), 'changed at import'",
        "BUILT_IN['apns'](); BUILT_IN['apns']()",
        "assert (len(httpx.filters), hpack.level) == (1, logging.INFO)",
    ])
    subprocess.run([sys.executable, "-c", check], check=True, cwd=Path(__file__).parents[2], timeout=60)
