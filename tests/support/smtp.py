"""A real SMTP server for tests (aiosmtpd in the test's event loop, 127.0.0.1, a free port).

It records what reached it: each accepted message with whether it came over TLS, each MAIL
command, each AUTH attempt. By default it works like a submission server: STARTTLS required
before anything else, AUTH only after STARTTLS and required before MAIL. Answers to RCPT can be
scripted per address (``rcpt_answers={"gone@example.com": "550 5.1.1 No such user"}``), and
the answer to MAIL FROM (``mail_answer``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def _over_tls(server: SMTP, session: Any) -> bool:
    # session.ssl is set by STARTTLS only; with implicit TLS the transport itself is TLS.
    transport = server.transport
    return session.ssl is not None or (transport is not None and transport.get_extra_info("sslcontext") is not None)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    over_tls: bool

    def message(self) -> EmailMessage:
        return message_from_bytes(self.content, policy=policy.default)  # type: ignore[return-value]


@dataclass
class SmtpServer:
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    rcpt_answers: dict[str, str] = field(default_factory=dict)
    mail_answer: str | None = None
    """When set, the answer to every MAIL FROM (e.g. ``"553 5.7.1 Sender not allowed"``)."""
    messages: list[Received] = field(default_factory=list)
    mail_commands: list[tuple[str, bool]] = field(default_factory=list)
    """(sender, over TLS) of every MAIL FROM the server saw, accepted or not."""
    auth_attempts: list[tuple[str, bool]] = field(default_factory=list)
    """(login, over TLS) of every AUTH attempt."""

    # aiosmtpd handler hooks
    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        self.mail_commands.append((address, _over_tls(server, session)))
        if self.mail_answer is not None:
            return self.mail_answer
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        answer = self.rcpt_answers.get(address)
        if answer is not None:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                      envelope.original_content or envelope.content,
                                      _over_tls(server, session)))
        return f"250 2.0.0 Ok: queued as TEST{len(self.messages)}"

    def authenticate(self, server: SMTP, session: Any, envelope: Any, mechanism: str,
                     auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        self.auth_attempts.append((login, _over_tls(server, session)))
        ok = login in self.users and self.users[login].encode() == auth_data.password
        return AuthResult(success=ok, handled=False, auth_data=login if ok else None)


@asynccontextmanager
async def smtp_server(tls_context: ssl.SSLContext | None = None, *, implicit_tls: bool = False,
                      users: dict[str, str] | None = None, auth_required: bool | None = None,
                      auth_require_tls: bool = True,
                      rcpt_answers: dict[str, str] | None = None,
                      mail_answer: str | None = None) -> AsyncIterator[SmtpServer]:
    """Serves SMTP on 127.0.0.1 until the block ends.

    With ``tls_context`` and not ``implicit_tls``: STARTTLS offered and required. With
    ``implicit_tls``: TLS from the first byte (port 465 style). Without ``tls_context``: plain
    SMTP, no STARTTLS. ``users`` enables AUTH (required unless ``auth_required=False``), offered
    only over TLS unless ``auth_require_tls=False``.
    """
    if implicit_tls:
        auth_require_tls = False  # aiosmtpd only knows of STARTTLS; here the whole connection is TLS
    box = SmtpServer(users=dict(users or {}), rcpt_answers=dict(rcpt_answers or {}), mail_answer=mail_answer)
    loop = asyncio.get_running_loop()
    with_auth = bool(box.users)

    def factory() -> SMTP:
        return SMTP(
            box,
            hostname="localhost",
            loop=loop,
            tls_context=None if implicit_tls else tls_context,
            require_starttls=tls_context is not None and not implicit_tls,
            authenticator=box.authenticate if with_auth else None,
            auth_required=(with_auth and auth_require_tls) if auth_required is None else auth_required,
            auth_require_tls=auth_require_tls,
        )

    server = await loop.create_server(factory, box.host, 0,
                                      ssl=tls_context if implicit_tls else None)
    box.port = server.sockets[0].getsockname()[1]
    try:
        yield box
    finally:
        server.close()
        await server.wait_closed()
