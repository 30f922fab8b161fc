"""The ``email`` notification plugin against a real SMTP server (aiosmtpd on 127.0.0.1) that
requires STARTTLS and AUTH: the message it delivers, with a text and an HTML part, a
configurable subject, HTML escaped and no way for a client name to add headers or recipients;
and the plugin found by its name."""

from __future__ import annotations

from services.notifier.plugins.email import EmailNotifier
from services.notifier.plugins.registry import NotifierRegistry
from tests.integration.email_support import AUTHORIZATION_URL, RECIPIENT, USERNAME, config_for, context
from tests.integration.email_support import http as http  # pytest fixture
from tests.integration.email_support import pki as pki  # pytest fixture
from tests.integration.email_support import server as server  # pytest fixture


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


def test_the_plugin_is_found_by_name():
    assert isinstance(NotifierRegistry().get("email"), EmailNotifier)
    assert EmailNotifier.name == "email"
