"""The ``email`` plugin, as named steps: find the recipient, read the settings, compose the
message, load the trusted CAs, submit it. A step that cannot go on raises ``Undelivered``,
saying why and whether a retry may help (see the package's docstring for which are final)."""

from __future__ import annotations

import asyncio
import re
import ssl
from email.message import EmailMessage

import aiosmtplib

from services.notifier.plugins.base import NotificationContext, NotificationResult
from services.notifier.plugins.email.message import build_message, one_line
from services.notifier.plugins.email.settings import ConfigError, EmailSettings, settings_from
from shared.outbound import certificate_refused, tls_context

MAX_DETAIL = 300


class Undelivered(Exception):
    """Why the message was not delivered; permanent when retrying cannot help."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.permanent = permanent

    def result(self) -> NotificationResult:
        return NotificationResult.failed(self.detail, permanent=self.permanent)


class EmailNotifier:
    name = "email"

    def __init__(self) -> None:
        # The trusted CAs per email.ca_file: loading the system's store costs a few
        # milliseconds of CPU, once per process rather than once per message (as APNs does).
        self._contexts: dict[str | None, ssl.SSLContext] = {}

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        recipient = (ctx.user.email or "").strip()
        try:
            domain = recipient_domain(recipient)
        except Undelivered as failure:
            return failure.result()
        try:
            settings = read_settings(ctx)
            message = compose(ctx, settings, recipient)
            context = self._contexts.get(settings.ca_file) or await trusted_servers(settings)
            self._contexts[settings.ca_file] = context
            accepted = await submit(settings, context, message, recipient)
        except Undelivered as failure:
            ctx.log.info("email_not_sent", recipient_domain=domain, detail=failure.detail,
                         permanent=failure.permanent)
            return failure.result()
        ctx.log.info("email_sent", recipient_domain=domain, smtp_host=settings.host, smtp_response=accepted)
        return NotificationResult.sent(f"accepted for {domain}: {accepted}")


def recipient_domain(recipient: str) -> str:
    """The domain of the user's address: all the logs ever say of it."""
    if not recipient:
        raise Undelivered("the user has no email address", permanent=True)
    local_part, at, domain = recipient.rpartition("@")
    if not (at and local_part and domain):
        raise Undelivered("the user's email address is not usable", permanent=True)
    return domain


def read_settings(ctx: NotificationContext) -> EmailSettings:
    try:
        return settings_from(ctx.config)
    except ConfigError as exc:
        raise Undelivered(str(exc), permanent=True) from None


def compose(ctx: NotificationContext, settings: EmailSettings, recipient: str) -> EmailMessage:
    try:
        return build_message(ctx, settings, recipient)
    except (ValueError, TypeError) as exc:
        # e.g. a recipient or sender address the email package cannot put in a header
        raise Undelivered(f"cannot build the message: {type(exc).__name__}", permanent=True) from None


async def trusted_servers(settings: EmailSettings) -> ssl.SSLContext:
    try:
        return await asyncio.to_thread(tls_context, settings.ca_file)
    except (OSError, ssl.SSLError):
        raise Undelivered("email.ca_file cannot be read as a CA certificate", permanent=True) from None


async def submit(settings: EmailSettings, context: ssl.SSLContext, message: EmailMessage, recipient: str) -> str:
    """Hands the message to the server; returns the server's words on accepting it, redacted."""
    try:
        accepted = await _send(settings, context, message)
    except aiosmtplib.SMTPResponseException as exc:
        detail = redact(f"SMTP {exc.code} {exc.message}", recipient, settings)
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            detail = f"SMTP authentication failed: {detail}"
        raise Undelivered(detail, permanent=exc.code >= 500) from None
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [refused.code for refused in exc.recipients] or [550]
        detail = redact("recipient refused: " + "; ".join(
            f"SMTP {refused.code} {refused.message}" for refused in exc.recipients), recipient, settings)
        raise Undelivered(detail, permanent=min(codes) >= 500) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise _not_through(exc, recipient, settings) from None
    except ValueError as exc:
        raise Undelivered(f"cannot send the message: {type(exc).__name__}", permanent=True) from None
    return redact(accepted, recipient, settings)


def _not_through(exc: aiosmtplib.SMTPException | OSError | TimeoutError, recipient: str,
                 settings: EmailSettings) -> Undelivered:
    """The conversation broke off: a certificate that does not verify and what the server does
    not support (e.g. AUTH) are configuration, not weather; the rest is worth a retry."""
    if certificate_refused(exc):
        return Undelivered("the SMTP server's certificate does not verify", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPException) and not isinstance(exc, ConnectionError | TimeoutError):
        return Undelivered(f"SMTP: {redact(str(exc), recipient, settings)}", permanent=True)
    return Undelivered(f"SMTP server unreachable: {type(exc).__name__}", permanent=False)


async def _send(settings: EmailSettings, context: ssl.SSLContext, message: EmailMessage) -> str:
    """The SMTP conversation; STARTTLS first when asked for, credentials only over TLS."""
    smtp = aiosmtplib.SMTP(hostname=settings.host, port=settings.port, use_tls=settings.implicit_tls,
                           start_tls=False, tls_context=context, timeout=settings.timeout)
    await smtp.connect()
    try:
        if settings.starttls:
            await smtp.ehlo()
            if not smtp.supports_extension("starttls"):
                raise Undelivered("the SMTP server does not offer STARTTLS; not sending in clear", permanent=True)
            await smtp.starttls()
            await smtp.ehlo()
        if settings.username:
            if smtp.get_transport_info("sslcontext") is None:  # settings forbid it; never in clear
                raise Undelivered("refusing to send SMTP credentials without TLS", permanent=True)
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


def redact(text: str, recipient: str, settings: EmailSettings) -> str:
    """A server's words, without the recipient's local part or the password."""
    domain = recipient.rpartition("@")[2]
    text = re.sub(re.escape(recipient), f"***@{domain}", text, flags=re.IGNORECASE)
    if settings.password:
        text = text.replace(settings.password, "***")
    return one_line(text)[:MAX_DETAIL]
