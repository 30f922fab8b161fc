"""The ``email`` plugin's transport against real SMTP servers (aiosmtpd on 127.0.0.1): AUTH only
after STARTTLS and with the right password, nothing sent in clear to a server without STARTTLS,
the server's certificate verified, implicit TLS, and a local relay without credentials."""

from __future__ import annotations

from services.notifier.plugins.email import EmailNotifier
from tests.integration.email_support import PASSWORD, RECIPIENT, USERNAME, config_for, context
from tests.integration.email_support import http as http  # pytest fixture
from tests.integration.email_support import pki as pki  # pytest fixture
from tests.integration.email_support import server as server  # pytest fixture
from tests.support.smtp import smtp_server


async def test_a_wrong_password_is_a_permanent_failure(server, pki, http):
    result = await EmailNotifier().notify(context(http, config_for(server, pki, password="wrong")))

    assert not result.ok and result.permanent
    assert "authentication" in result.detail.lower()
    assert "535" in result.detail
    assert server.messages == [] and server.mail_commands == []


async def test_a_server_without_starttls_gets_nothing_in_clear(pki, http):
    # A plain server that would even take AUTH in clear (a downgrade, or a misconfiguration).
    async with smtp_server(None, users={USERNAME: PASSWORD}, auth_require_tls=False) as plain:
        result = await EmailNotifier().notify(context(http, config_for(plain, pki)))

    assert not result.ok and result.permanent
    assert "STARTTLS" in result.detail
    assert plain.auth_attempts == [] and plain.mail_commands == [] and plain.messages == []


async def test_credentials_are_never_sent_without_tls(pki, http):
    async with smtp_server(None, users={USERNAME: PASSWORD}, auth_require_tls=False) as plain:
        result = await EmailNotifier().notify(context(http, config_for(plain, pki, starttls=False)))

    assert not result.ok and result.permanent
    assert plain.auth_attempts == [] and plain.messages == []


async def test_with_starttls_off_and_no_credentials_a_local_relay_gets_the_message(http):
    async with smtp_server(None) as relay:
        config = config_for(relay, None, starttls=False, username=None, password=None)
        result = await EmailNotifier().notify(context(http, config))

    assert result.ok, result.detail
    [received] = relay.messages
    assert not received.over_tls


async def test_the_server_certificate_is_verified(server, http):
    # No ca_file: the throwaway CA is not among the system's trusted CAs.
    result = await EmailNotifier().notify(context(http, config_for(server, None)))

    assert not result.ok and result.permanent
    assert "certificate" in result.detail
    assert server.auth_attempts == [] and server.mail_commands == []


async def test_implicit_tls_delivers(pki, http):
    async with smtp_server(pki.server_context(), implicit_tls=True, users={USERNAME: PASSWORD}) as box:
        result = await EmailNotifier().notify(context(http, config_for(box, pki, tls=True)))

    assert result.ok, result.detail
    assert box.auth_attempts == [(USERNAME, True)]
    assert [m.rcpt_tos for m in box.messages] == [[RECIPIENT]]
