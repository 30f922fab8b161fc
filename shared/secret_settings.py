"""The process settings that hold secrets (shared.settings): where else they may be read from,
and what a master key must look like."""

from __future__ import annotations

import base64
import os
import re
from typing import Any

# A fixed key for development only: a production process refuses to start without its own.
DEVELOPMENT_SECRET_KEY = "ZGV2ZWxvcG1lbnQta2V5LW5vdC1mb3ItcHJvZC11c2U="

# The settings that hold secrets (a key, a token, a password inside a URL): each may also be
# read from a file, ``CIBA_<NAME>_FILE`` (a Docker or Kubernetes secret mount).
SECRET_SETTINGS = ("secret_key", "secret_keys", "admin_token", "database_url", "amqp_url")


def read_secret_files(data: dict[str, Any]) -> dict[str, Any]:
    """``CIBA_<NAME>_FILE`` for the secret settings: the file's content, stripped of the
    surrounding whitespace an editor or ``echo`` leaves."""
    for name in SECRET_SETTINGS:
        variable = f"CIBA_{name.upper()}"
        path = os.environ.get(f"{variable}_FILE")
        if not path:
            continue
        if os.environ.get(variable):
            raise ValueError(f"{variable} and {variable}_FILE are both set: keep one")
        if name in data:
            continue  # given explicitly
        try:
            with open(path, encoding="utf-8") as file:
                data[name] = file.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(f"{variable}_FILE: cannot read {path}: {reason}") from None
    return data


_FERNET_KEY = re.compile(r"^[A-Za-z0-9_-]{43}=$")


def check_master_keys(keys: list[str]) -> None:
    """Each a Fernet key (32 bytes in url-safe base64), none named twice."""
    for key in keys:
        if not _FERNET_KEY.match(key) or len(base64.urlsafe_b64decode(key)) != 32:
            raise ValueError(
                "CIBA_SECRET_KEY must be 32 random bytes in url-safe base64 "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
    if len(set(keys)) != len(keys):
        raise ValueError("CIBA_SECRET_KEYS names a key twice")
