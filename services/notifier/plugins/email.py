"""``email``: sends the sign-in request to the user's email address over SMTP (aiosmtplib).

Configuration (the ``email`` section of ``cibaEndUserNotificationConfig``)::

    {"notifier": "email",
     "email": {"host": "smtp.example.com", "port": 587, "from": "CIBA <no-reply@example.com>",
               "username": "ciba", "password": "...", "starttls": true, "tls": false,
               "ca_file": null, "timeout": 10, "subject": "Sign-in request from {client_name}"}}

- ``host`` and ``from`` are required; ``port`` defaults to 587 (465 with ``tls``).
- ``starttls`` (default true): the connection must be upgraded with STARTTLS before anything
  else is said; a server that does not offer it is a failure, never a reason to send in clear.
  ``tls`` (default false) connects with implicit TLS instead (port 465 style). With both off
  the message goes in clear (a relay on the same host), and credentials are then refused:
  ``username``/``password`` are only ever sent over TLS.
- The server's certificate is always verified, against the system's CAs plus ``ca_file``
  when given. ``timeout`` (seconds) bounds each SMTP step.
- ``subject`` may use ``{client_name}`` and ``{username}``.

The recipient is the user's ``email``; a user without one is a permanent failure. The message
is multipart/alternative (text and HTML, every value HTML-escaped in the HTML part) with the
client's name, the binding message, the scopes, the expiry and the authorization URL.

Outcome: the server accepting the message is success. A 5xx refusal (sender, recipient, data)
and an authentication failure are permanent; 4xx answers, refused connections, disconnects and
timeouts are retried. A missing STARTTLS, a certificate that does not verify and a bad
configuration are permanent too: retrying cannot fix them. Logs name the recipient's domain
only; the password and the authorization URL are never logged, nor put in the result's detail.
"""

from __future__ import annotations

import asyncio
import html
import re
import ssl
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any

import aiosmtplib

from services.notifier.plugins.base import NotificationContext, NotificationResult

DEFAULT_SUBJECT = "Sign-in request from {client_name}"
DEFAULT_TIMEOUT_SEC = 10.0
STARTTLS_PORT = 587
IMPLICIT_TLS_PORT = 465
BINDING_WARNING = "Only approve if this matches what you see on the other device."
MAX_DETAIL = 300


class ConfigError(ValueError):
    """The operator's ``email`` configuration cannot work: a permanent failure."""


class _Settings:
    def __init__(self, config: dict[str, Any]) -> None:
        host = config.get("host")
        if not isinstance(host, str) or not host.strip():
            raise ConfigError("email.host is not configured")
        self.host = host.strip()
        self.implicit_tls = _flag(config.get("tls"), default=False, key="tls")
        self.starttls = not self.implicit_tls and _flag(config.get("starttls"), default=True, key="starttls")
        default_port = IMPLICIT_TLS_PORT if self.implicit_tls else STARTTLS_PORT
        try:
            self.port = int(config.get("port") or default_port)
        except (TypeError, ValueError):
            raise ConfigError("email.port is not a port number") from None
        if not 0 < self.port < 65536:
            raise ConfigError("email.port is not a port number")
        sender = config.get("from")
        if not isinstance(sender, str) or "@" not in parseaddr(sender)[1]:
            raise ConfigError("email.from is not an email address")
        self.sender = sender.strip()
        self.sender_domain = parseaddr(sender)[1].rpartition("@")[2]
        username = config.get("username")
        self.username = str(username) if username else None
        password = config.get("password")
        self.password = "" if password is None else str(password)
        ca_file = config.get("ca_file")
        self.ca_file = str(ca_file) if ca_file else None
        try:
            self.timeout = float(config.get("timeout") or DEFAULT_TIMEOUT_SEC)
        except (TypeError, ValueError):
            raise ConfigError("email.timeout is not a number") from None
        subject = config.get("subject")
        self.subject = subject if isinstance(subject, str) and subject.strip() else DEFAULT_SUBJECT

    @property
    def encrypted(self) -> bool:
        return self.implicit_tls or self.starttls


def _flag(value: Any, *, default: bool, key: str) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ConfigError(f"email.{key} must be true or false")


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trust store plus the operator's CA; verification is always on."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def _one_line(value: str) -> str:
    return " ".join(value.split())


def _expiry(ctx: NotificationContext) -> str:
    return ctx.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _subject(template: str, ctx: NotificationContext) -> str:
    values = {"client_name": _one_line(ctx.client_name), "username": _one_line(ctx.user.username)}
    try:
        subject = template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError):
        subject = DEFAULT_SUBJECT.format(**values)
    return _one_line(subject)[:200]


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


def build_message(ctx: NotificationContext, settings: _Settings, recipient: str) -> EmailMessage:
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


def _cert_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class EmailNotifier:
    name = "email"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        recipient = (ctx.user.email or "").strip()
        if not recipient:
            return NotificationResult.failed("the user has no email address", permanent=True)
        local_part, at, domain = recipient.rpartition("@")
        if not (at and local_part and domain):
            return NotificationResult.failed("the user's email address is not usable", permanent=True)
        try:
            settings = _Settings(ctx.config)
            if settings.username and not settings.encrypted:
                raise ConfigError("email.username is set but neither starttls nor tls is on: "
                                  "credentials are never sent in clear")
            message = build_message(ctx, settings, recipient)
        except ConfigError as exc:
            return self._failed(ctx, domain, str(exc), permanent=True)
        except (ValueError, TypeError) as exc:
            # e.g. a recipient or sender address the email package cannot put in a header
            return self._failed(ctx, domain, f"cannot build the message: {type(exc).__name__}", permanent=True)

        try:
            context = await asyncio.to_thread(_tls_context, settings.ca_file)
        except (OSError, ssl.SSLError):
            return self._failed(ctx, domain, "email.ca_file cannot be read as a CA certificate", permanent=True)

        try:
            accepted = await self._send(settings, context, message)
        except _Refused as refusal:
            return self._failed(ctx, domain, refusal.detail, permanent=refusal.permanent)
        except aiosmtplib.SMTPResponseException as exc:
            detail = self._redact(f"SMTP {exc.code} {exc.message}", recipient, settings)
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
                detail = f"SMTP authentication failed: {detail}"
            return self._failed(ctx, domain, detail, permanent=exc.code >= 500)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [refused.code for refused in exc.recipients] or [550]
            detail = self._redact("recipient refused: " + "; ".join(
                f"SMTP {refused.code} {refused.message}" for refused in exc.recipients), recipient, settings)
            return self._failed(ctx, domain, detail, permanent=min(codes) >= 500)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            if _cert_failure(exc):
                return self._failed(ctx, domain, "the SMTP server's certificate does not verify", permanent=True)
            if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(exc, ConnectionError | TimeoutError):
                # What the server does not support (e.g. AUTH): configuration, not weather.
                return self._failed(ctx, domain, f"SMTP: {self._redact(str(exc), recipient, settings)}",
                                    permanent=True)
            return self._failed(ctx, domain, f"SMTP server unreachable: {type(exc).__name__}")
        except ValueError as exc:
            return self._failed(ctx, domain, f"cannot send the message: {type(exc).__name__}", permanent=True)

        accepted = self._redact(accepted, recipient, settings)
        ctx.log.info("email_sent", recipient_domain=domain, smtp_host=settings.host, smtp_response=accepted)
        return NotificationResult.sent(f"accepted for {domain}: {accepted}")

    @staticmethod
    async def _send(settings: _Settings, context: ssl.SSLContext, message: EmailMessage) -> str:
        """Delivers the message to the server; returns the server's words on accepting it."""
        smtp = aiosmtplib.SMTP(hostname=settings.host, port=settings.port, use_tls=settings.implicit_tls,
                               start_tls=False, tls_context=context, timeout=settings.timeout)
        await smtp.connect()
        try:
            if settings.starttls:
                await smtp.ehlo()
                if not smtp.supports_extension("starttls"):
                    raise _Refused("the SMTP server does not offer STARTTLS; not sending in clear")
                await smtp.starttls()
                await smtp.ehlo()
            if settings.username:
                if smtp.get_transport_info("sslcontext") is None:  # settings forbid it; never in clear
                    raise _Refused("refusing to send SMTP credentials without TLS")
                await smtp.login(settings.username, settings.password)
            _errors, response = await smtp.send_message(message)
        except BaseException:
            smtp.close()
            raise
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            pass  # the message was accepted; a clumsy goodbye changes nothing
        finally:
            smtp.close()
        return response

    @staticmethod
    def _redact(text: str, recipient: str, settings: _Settings) -> str:
        """A server's words, without the recipient's local part or the password."""
        domain = recipient.rpartition("@")[2]
        text = re.sub(re.escape(recipient), f"***@{domain}", text, flags=re.IGNORECASE)
        if settings.password:
            text = text.replace(settings.password, "***")
        return _one_line(text)[:MAX_DETAIL]

    @staticmethod
    def _failed(ctx: NotificationContext, domain: str, detail: str, *, permanent: bool = False) -> NotificationResult:
        ctx.log.info("email_not_sent", recipient_domain=domain, detail=detail, permanent=permanent)
        return NotificationResult.failed(detail, permanent=permanent)


class _Refused(Exception):
    """Our own refusal to go on (no STARTTLS, no TLS for credentials): permanent."""

    def __init__(self, detail: str, *, permanent: bool = True) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent
