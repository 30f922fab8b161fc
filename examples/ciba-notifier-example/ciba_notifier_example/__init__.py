"""``example-file``: an end-user notification plugin that appends one JSON line per
notification to a file.

Useful where another program on the same machine shows the sign-in link to the user, e.g. a
kiosk demo that tails the file and turns ``authorization_url`` into a QR code, and as a model
for writing a plugin of your own. Configuration::

    {"notifier": "example-file", "example-file": {"path": "/tmp/ciba-notifications.jsonl"}}

Each line: ``{"notification_id", "username", "client_name", "binding_message",
"authorization_url", "expires_at"}`` (``expires_at`` in RFC 3339). The file is created with
mode 0600: the authorization URL opens the user's consent page, treat it like a password.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os

from services.notifier.plugins.base import NotificationContext, NotificationResult

__all__ = ["FileNotifier", "record"]

# A missing directory or a file we may not write: the operator has to fix the configuration,
# retrying will not help. Other errors (a full disk, say) may pass.
_PERMANENT_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS}


def record(ctx: NotificationContext) -> dict[str, str | None]:
    """The JSON object written for one notification."""
    return {
        "notification_id": ctx.notification_id,
        "username": ctx.user.username,
        "client_name": ctx.client_name,
        "binding_message": ctx.binding_message,
        "authorization_url": ctx.authorization_url,
        "expires_at": ctx.expires_at.isoformat().replace("+00:00", "Z"),
    }


def _append(path: str, line: bytes) -> None:
    # One write(2) on an O_APPEND descriptor: concurrent notifications, even from several
    # notifier processes, never interleave within a line.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class FileNotifier:
    name = "example-file"

    async def notify(self, ctx: NotificationContext) -> NotificationResult:
        path = ctx.config.get("path")
        if not isinstance(path, str) or not path:
            return NotificationResult.failed("example-file.path is not configured", permanent=True)
        line = json.dumps(record(ctx), ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            # File I/O blocks: keep it off the event loop the notifier shares with other work.
            await asyncio.to_thread(_append, path, line.encode("utf-8"))
        except OSError as exc:
            reason = os.strerror(exc.errno) if exc.errno else type(exc).__name__
            return NotificationResult.failed(f"cannot append to {path}: {reason}",
                                             permanent=exc.errno in _PERMANENT_ERRNOS)
        # Never log the authorization URL: it is the key to the user's consent page.
        ctx.log.info("example_file_notification_written", path=path)
        return NotificationResult.sent(f"appended to {path}")
