"""The ``email`` notification plugin against a real SMTP server (aiosmtpd on 127.0.0.1) that
requires STARTTLS with a certificate from a throwaway CA, and AUTH after STARTTLS."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from services.notifier.plugins.base import NotificationContext, NotifiedUser
from services.notifier.plugins.email import EmailNotifier
from services.notifier.plugins.registry import NotifierRegistry
from tests.support.notification_context import notification_context
from tests.support.smtp import SmtpServer, smtp_server
from tests.support.tls import TestPKI as PKI
from tests.support.tls import make_pki

USERNAME = "ciba-mailer"
PASSWORD = "pw-Qx7!never-in-logs"
RECIPIENT = "alice@example.com"
AUTHORIZATION_URL = "https://as.example.com/device/c2VjcmV0LXJlZmVyZW5jZQ"
EXPIRES_AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    return make_pki(tmp_path_factory.mktemp("smtp-pki"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def server(pki: PKI) -> AsyncIterator[SmtpServer]:
    """A submission server: STARTTLS required, AUTH required and only after STARTTLS."""
    async with smtp_server(pki.server_context(), users={USERNAME: PASSWORD},
                           rcpt_answers={"gone@example.com": "550 5.1.1 <gone@example.com>: no such user",
                                         "busy@example.com": "451 4.3.0 Mailbox busy, try later"}) as box:
        yield box


def config_for(box: SmtpServer, pki: PKI | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"host": box.host, "port": box.port, "from": "CIBA <no-reply@as.example.com>",
                              "username": USERNAME, "password": PASSWORD, "timeout": 5}
    if pki is not None:
        config["ca_file"] = str(pki.ca_file)
    config.update(overrides)
    return config


def context(http: aiohttp.ClientSession, config: dict[str, Any], **changes: Any) -> NotificationContext:
    return notification_context(**{
        "authorization_url": AUTHORIZATION_URL, "binding_message": "Pay 42 EUR #7731",
        "user": NotifiedUser("sub-alice", "alice", RECIPIENT, "+15550100"), "config": config, "http": http,
        **changes})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_the_message_is_delivered_over_starttls_with_both_parts(server, pki, http):
    result = await EmailNotifier().notify(context(http, config_for(server, pki)))

    assert result.ok, result.detail
    assert server.auth_attempts == [(USERNAME, True)]
    [received] = server.messages
    assert received.over_tls
    assert received.rcpt_tos == [RECIPIENT]
    assert received.mail_from == "no-reply@as.example.com"
    message = received.message()
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"] == "Sign-in request from Shop"
    assert message["To"] == RECIPIENT
    assert message["Auto-Submitted"] == "auto-generated"
    text = message.get_body(("plain",)).get_content()
    page = message.get_body(("html",)).get_content()
    for part in (text, page):
        assert "Shop" in part
        assert "Pay 42 EUR #7731" in part
        assert "Only approve if this matches what you see on the other device" in part
        assert "openid" in part and "email" in part
        assert "2030-01-02 03:04 UTC" in part
    assert AUTHORIZATION_URL in text
    assert f'<a href="{AUTHORIZATION_URL}">' in page


async def test_without_a_binding_message_the_warning_is_left_out(server, pki, http):
    result = await EmailNotifier().notify(context(http, config_for(server, pki), binding_message=None))

    assert result.ok, result.detail
    text = server.messages[0].message().get_body(("plain",)).get_content()
    assert "Binding message" not in text
    assert "None" not in text


async def test_the_subject_template_is_configurable(server, pki, http):
    config = config_for(server, pki, subject="{client_name} wants {username} to sign in")

    result = await EmailNotifier().notify(context(http, config))

    assert result.ok, result.detail
    assert server.messages[0].message()["Subject"] == "Shop wants alice to sign in"


async def test_html_in_the_client_name_and_binding_message_is_escaped(server, pki, http):
    name = '<script>alert("x")</script> & <b>Bank</b>'
    ctx = context(http, config_for(server, pki), client_name=name, binding_message="<img src=x onerror=y>")

    result = await EmailNotifier().notify(ctx)

    assert result.ok, result.detail
    message = server.messages[0].message()
    page = message.get_body(("html",)).get_content()
    assert "<script>" not in page and "<b>Bank" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;Bank&lt;/b&gt;" in page
    assert "&lt;img src=x onerror=y&gt;" in page
    assert name in message.get_body(("plain",)).get_content()


async def test_a_client_name_cannot_add_headers_or_recipients(server, pki, http):
    ctx = context(http, config_for(server, pki), client_name="Shop\r\nBcc: mallory@evil.example")

    result = await EmailNotifier().notify(ctx)

    assert result.ok, result.detail
    [received] = server.messages
    assert received.rcpt_tos == [RECIPIENT]
    message = received.message()
    assert message["Bcc"] is None
    assert message["Subject"] == "Sign-in request from Shop Bcc: mallory@evil.example"


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


async def test_a_550_recipient_refusal_is_permanent_and_does_not_reveal_the_address(server, pki, http):
    ctx = context(http, config_for(server, pki), user=NotifiedUser("sub-gone", "gone", "gone@example.com"))

    result = await EmailNotifier().notify(ctx)

    assert not result.ok and result.permanent
    assert "550" in result.detail
    assert "gone@example.com" not in result.detail
    assert "@example.com" in result.detail
    assert server.messages == []


async def test_a_451_temporary_refusal_is_retried(server, pki, http):
    ctx = context(http, config_for(server, pki), user=NotifiedUser("sub-busy", "busy", "busy@example.com"))

    result = await EmailNotifier().notify(ctx)

    assert not result.ok and not result.permanent
    assert "451" in result.detail
    assert server.messages == []


@pytest.mark.parametrize(("answer", "permanent"), [("553 5.7.1 Sender not allowed", True),
                                                    ("421 4.7.0 Too many connections", False)])
async def test_a_refused_sender_follows_the_reply_code(pki, http, answer, permanent):
    async with smtp_server(pki.server_context(), users={USERNAME: PASSWORD}, mail_answer=answer) as box:
        result = await EmailNotifier().notify(context(http, config_for(box, pki)))

    assert not result.ok
    assert result.permanent is permanent
    assert answer[:3] in result.detail


async def test_a_refused_connection_is_retried(pki, http):
    config = {"host": "127.0.0.1", "port": closed_port(), "from": "no-reply@as.example.com", "timeout": 5}

    result = await EmailNotifier().notify(context(http, config))

    assert not result.ok and not result.permanent
    assert "unreachable" in result.detail


async def test_a_silent_server_times_out_and_is_retried(http):
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never greets
        writer.close()

    silent_server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = silent_server.sockets[0].getsockname()[1]
    config = {"host": "127.0.0.1", "port": port, "from": "no-reply@as.example.com", "timeout": 0.3}
    try:
        result = await asyncio.wait_for(EmailNotifier().notify(context(http, config)), 5)
    finally:
        silent_server.close()
        await silent_server.wait_closed()

    assert not result.ok and not result.permanent


@pytest.mark.parametrize("email", [None, "", "  ", "alice", "@example.com", "alice@"])
async def test_a_user_without_an_email_address_is_a_permanent_failure(server, pki, http, email):
    ctx = context(http, config_for(server, pki), user=NotifiedUser("sub-bob", "bob", email))

    result = await EmailNotifier().notify(ctx)

    assert not result.ok and result.permanent
    assert result.detail in {"the user has no email address", "the user's email address is not usable"}
    assert (result.detail == "the user has no email address") is (not (email or "").strip())
    assert server.mail_commands == []


@pytest.mark.parametrize("broken", [{"host": None}, {"from": None}, {"from": "not an address"}, {"port": "smtp"},
                                    {"starttls": "sometimes"}, {"ca_file": "/nonexistent/ca.pem"}])
async def test_a_broken_configuration_is_a_permanent_failure(server, pki, http, broken):
    result = await EmailNotifier().notify(context(http, config_for(server, pki, **broken)))

    assert not result.ok and result.permanent
    assert server.mail_commands == []


async def test_logs_name_the_domain_only_never_the_password_url_or_address(server, pki, http, caplog):
    caplog.set_level(logging.DEBUG)
    with capture_logs() as events:
        results = [
            await EmailNotifier().notify(context(http, config_for(server, pki))),
            await EmailNotifier().notify(context(http, config_for(server, pki, password=PASSWORD + "x"))),
            await EmailNotifier().notify(context(http, config_for(server, pki), user=NotifiedUser(
                "sub-gone", "gone", "gone@example.com"))),
        ]

    assert [r.ok for r in results] == [True, False, False]
    assert events, "the plugin logs what it did"
    assert {event.get("recipient_domain") for event in events} == {"example.com"}
    # The client side's stdlib records (the test server's own "mail.log" is not ours to judge).
    ours = [record.getMessage() for record in caplog.records if not record.name.startswith("mail.log")]
    for text in [repr(events), *ours, *(r.detail for r in results)]:
        assert PASSWORD not in text
        assert AUTHORIZATION_URL not in text
        assert RECIPIENT not in text and "gone@example.com" not in text


def test_the_plugin_is_found_by_name():
    assert isinstance(NotifierRegistry().get("email"), EmailNotifier)
    assert EmailNotifier.name == "email"

