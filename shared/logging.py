"""Structured logs (structlog): JSON lines or console, one context across the four services.

A request's ``auth_req`` (a fingerprint of its auth_req_id: the first 12 hex digits of its
SHA-256, never the auth_req_id itself) is bound into the context wherever the request is
handled and is carried in message headers, so a single grep over every service's log shows a
request's whole life (``ciba-admin request show`` prints it). On the gateway every line of an
HTTP request also carries its ``request_id``. A last-line-of-defence processor masks values
under names that hold secrets, and turns any ``auth_req_id`` into its fingerprint.

Our own lines take structlog's native path: a level filter at the call site, a few processors,
orjson, one write. Going through the standard library's logging cost about 15 % of the
gateway's CPU under load (a LogRecord, a handler, a formatter per line, measured with py-spy).
Libraries that log through the standard library (aiohttp, aio-pika, asyncpg) are rendered the
same way and go to the same stream.
"""

from __future__ import annotations

import hashlib
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TextIO

import orjson
import structlog
from structlog.typing import FilteringBoundLogger

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
    if "auth_req_id" in event_dict:
        value = event_dict.pop("auth_req_id")
        if isinstance(value, str):
            event_dict.setdefault("auth_req", auth_req_fingerprint(value))
    return event_dict


def auth_req_fingerprint(auth_req_id: str) -> str:
    """What the logs and message headers carry instead of an auth_req_id (which a client could
    redeem at /token): enough to correlate, nothing to redeem."""
    return hashlib.sha256(auth_req_id.encode()).hexdigest()[:12]


def _add_logger_name(logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    event_dict["logger"] = getattr(logger, "name", None)
    return event_dict


def _orjson_dumps(value: Any, **_kwargs: Any) -> bytes:
    return orjson.dumps(value, default=str)


class _Outputs:
    """Where rendered lines go: the process's stream, and for the notification plugins' channel
    also a file of its own (CIBA_NOTIFICATION_LOG_FILE). Each line is written and flushed at
    once, so a log file is read live (by operators, and by the tests)."""

    def __init__(self, stream: TextIO, notification_file: str | None) -> None:
        self._stream = _line_writer(stream)
        self._file: IO[bytes] | None = open(notification_file, "ab") if notification_file else None  # noqa: SIM115
        self._lock = threading.Lock()  # lines from threads (password checks) must not interleave

    def write(self, line: str | bytes, *, notification: bool) -> None:
        data = line.encode() if isinstance(line, str) else line
        with self._lock:
            self._stream(data)
            if notification and self._file is not None:
                self._file.write(data + b"\n")
                self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _line_writer(stream: TextIO) -> Callable[[bytes], None]:
    binary: IO[bytes] | None = getattr(stream, "buffer", None)
    if binary is not None:
        def write_bytes(data: bytes) -> None:
            binary.write(data + b"\n")
            binary.flush()
        return write_bytes

    def write_text(data: bytes) -> None:  # a stream without a binary layer (io.StringIO)
        stream.write(data.decode() + "\n")
        stream.flush()
    return write_text


class _LineLogger:
    """structlog's final logger: every level method writes the rendered line."""

    def __init__(self, outputs: _Outputs, name: str | None) -> None:
        self.name = name
        self._outputs = outputs
        self._notification = name == NOTIFICATION_LOGGER

    def msg(self, line: str | bytes) -> None:
        self._outputs.write(line, notification=self._notification)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


_outputs: _Outputs | None = None


def configure_logging(service: str, log_format: str = "json", level: str = "info", *,
                      stream: TextIO | None = None, notification_log_file: str | None = None) -> None:
    """Our loggers and the standard library's (aiohttp, aio-pika, asyncpg) to ``stream``
    (stdout by default), JSON lines or console."""
    global _outputs
    if _outputs is not None:
        _outputs.close()
    outputs = _outputs = _Outputs(stream or sys.stdout, notification_log_file)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(colors=False)
        tail: list[Any] = [renderer]
    else:
        renderer = structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        tail = [structlog.processors.format_exc_info, renderer]
    structlog.configure(
        processors=[*shared, *tail],
        logger_factory=lambda name=None, *_args: _LineLogger(outputs, name),
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        cache_logger_on_first_use=True,
    )
    # The standard library's formatter wants text: its rare lines may take the slower json.
    library_tail = tail if log_format == "console" else [structlog.processors.format_exc_info,
                                                         structlog.processors.JSONRenderer()]
    _route_standard_library(shared, library_tail, stream or sys.stdout, level)
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def _route_standard_library(shared: list[Any], tail: list[Any], stream: TextIO, level: str) -> None:
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[processor for processor in shared if processor is not _add_logger_name]
        + [structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Library chatter at INFO is noise in production logs.
    for noisy in ("aio_pika", "aiormq", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str = "ciba") -> FilteringBoundLogger:
    return structlog.get_logger(name)  # type: ignore[no-any-return]


@contextmanager
def bind_request(**ids: Any) -> Iterator[None]:
    """Bind request identifiers (auth_req_id, which lines show as its fingerprint, client_id,
    message_id) for the block."""
    present = {key: value for key, value in ids.items() if value is not None}
    # The fingerprint once, at binding, not on every line of the block.
    if isinstance(present.get("auth_req_id"), str):
        present["auth_req"] = auth_req_fingerprint(present.pop("auth_req_id"))
    with structlog.contextvars.bound_contextvars(**present):
        yield
