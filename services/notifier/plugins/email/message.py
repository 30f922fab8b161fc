"""The message: multipart/alternative, text and HTML (every value HTML-escaped), with the
client's name, the binding message, the scopes, the expiry and the authorization URL."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from services.notifier.plugins.base import NotificationContext
from services.notifier.plugins.email.settings import DEFAULT_SUBJECT, EmailSettings

BINDING_WARNING = "Only approve if this matches what you see on the other device."


def one_line(value: str) -> str:
    return " ".join(value.split())


def _expiry(ctx: NotificationContext) -> str:
    return ctx.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _subject(template: str, ctx: NotificationContext) -> str:
    values = {"client_name": one_line(ctx.client_name), "username": one_line(ctx.user.username)}
    try:
        subject = template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError):
        subject = DEFAULT_SUBJECT.format(**values)
    return one_line(subject)[:200]


def text_body(ctx: NotificationContext) -> str:
    lines = [f"{ctx.client_name} asks you to sign in as {ctx.user.username}.", ""]
    if ctx.binding_message:
        lines += [f"Binding message: {ctx.binding_message}", BINDING_WARNING, ""]
    lines += [
        f"Access requested: {', '.join(ctx.scope)}",
        f"This request expires at {_expiry(ctx)}.",
        "",
        "To review it, then approve or deny it, open:",
        ctx.authorization_url,
        "",
        "If you did not start this, deny the request or ignore this message.",
    ]
    return "\n".join(lines) + "\n"


def html_body(ctx: NotificationContext) -> str:
    e = html.escape
    binding = ""
    if ctx.binding_message:
        binding = (
            '<p style="margin:16px 0 4px">Binding message:</p>\n'
            '<p style="font-size:22px;font-weight:bold;font-family:monospace;padding:12px;'
            f'border:2px solid #333;display:inline-block;margin:0">{e(ctx.binding_message)}</p>\n'
            f'<p style="font-weight:bold;color:#a00">{e(BINDING_WARNING)}</p>\n'
        )
    scopes = "".join(f"<li>{e(scope)}</li>" for scope in ctx.scope)
    return (
        "<!DOCTYPE html>\n<html><body style=\"font-family:sans-serif;line-height:1.4\">\n"
        f"<p><strong>{e(ctx.client_name)}</strong> asks you to sign in as "
        f"<strong>{e(ctx.user.username)}</strong>.</p>\n"
        f"{binding}"
        f"<p>Access requested:</p>\n<ul>{scopes}</ul>\n"
        f"<p>This request expires at {e(_expiry(ctx))}.</p>\n"
        f'<p><a href="{e(ctx.authorization_url)}">Review the request, then approve or deny it</a></p>\n'
        "<p>If you did not start this, deny the request or ignore this message.</p>\n"
        "</body></html>\n"
    )


def build_message(ctx: NotificationContext, settings: EmailSettings, recipient: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = Address(addr_spec=recipient)
    message["Subject"] = _subject(settings.subject, ctx)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain=settings.sender_domain)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-CIBA-Notification-Id"] = ctx.notification_id
    message.set_content(text_body(ctx))
    message.add_alternative(html_body(ctx), subtype="html")
    return message
