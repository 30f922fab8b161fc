"""The ``email`` plugin's failures against real SMTP servers (aiosmtpd on 127.0.0.1): recipients
and senders refused by reply code, a refused connection and a silent server, users without a
usable address, broken configurations; and logs that name the recipient's domain only, never
the password, the URL or the address."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest
from structlog.testing import capture_logs

from services.notifier.plugins.base import NotifiedUser
from services.notifier.plugins.email import EmailNotifier
from tests.integration.email_support import AUTHORIZATION_URL, PASSWORD, RECIPIENT, USERNAME, config_for, context
from tests.integration.email_support import http as http  # pytest fixture
from tests.integration.email_support import pki as pki  # pytest fixture
from tests.integration.email_support import server as server  # pytest fixture
from tests.support.smtp import smtp_server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
