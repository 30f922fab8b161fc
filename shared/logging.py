"""Structured logs (structlog): JSON lines or console, one context across the four services.

``auth_req_id`` is bound into the context (``bind_request``) wherever a request is handled and
is carried in message headers, so a single grep over every service's log shows a request's
whole life. A last-line-of-defence processor masks values under names that hold secrets.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

import structlog

# Keys whose values never reach a log line, whatever the call site passed.
SENSITIVE_KEYS = frozenset(
    {
        "password",
        "client_secret",
        "secret",
        "access_token",
        "refresh_token",
        "id_token",
        "client_notification_token",
        "authorization",
        "cookie",
        "user_code",
        "totp",
        "private_key",
    }
)


NOTIFICATION_LOGGER = "ciba.notification"


def _mask_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in event_dict.keys() & SENSITIVE_KEYS:
        event_dict[key] = "***"
    return event_dict


def configure_logging(service: str, log_format: str = "json", level: str = "info", *,
                      stream: TextIO | None = None, notification_log_file: str | None = None) -> None:
    """Route structlog and the standard library (aiohttp, aio-pika, asyncpg) to stdout."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
    else:
        renderer = structlog.processors.JSONRenderer()

    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    notification = logging.getLogger(NOTIFICATION_LOGGER)
    notification.handlers[:] = []
    if notification_log_file:
        # The plugins' own channel: an operator can read just what they did.
        file_handler = logging.FileHandler(notification_log_file, encoding="utf-8")
        file_handler.setFormatter(formatter)
        notification.addHandler(file_handler)
    # Library chatter at INFO is noise in production logs.
    for noisy in ("aio_pika", "aiormq", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def get_logger(name: str = "ciba") -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


@contextmanager
def bind_request(**ids: Any) -> Iterator[None]:
    """Bind request identifiers (auth_req_id, client_id, message_id) for the block."""
    present = {key: value for key, value in ids.items() if value is not None}
    with structlog.contextvars.bound_contextvars(**present):
        yield
