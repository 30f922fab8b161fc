"""Secrets inside server properties (API keys, service-account keys, SMTP passwords).

Values under a sensitive-looking key (``secret``, ``password``, ``api_key``, ``private_key``,
``service_account``, ``credentials``, ``*_token`` ...) are stored sealed,
``{"$sealed": "<Fernet ciphertext>"}``, and unsealed only in the memory of the services that
use them. The CLI and the config API show them masked.
"""

from __future__ import annotations

import json
import re
from typing import Any

from shared.crypto import Secrets

SEALED = "$sealed"
MASK = "********"
_SENSITIVE = re.compile(r"(secret|password|passwd|api_?key|private_key|service_account|credentials|token)$",
                        re.IGNORECASE)


def is_sensitive(key: str) -> bool:
    return bool(_SENSITIVE.search(key))


def holds_secret(key: str, value: Any) -> bool:
    """Whether setting ``key`` to ``value`` stores a secret (what ``seal`` would seal)."""
    if value is None:
        return False
    if is_sensitive(key):
        return True
    if isinstance(value, dict):
        return any(holds_secret(k, v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_secret("", v) for v in value)
    return False


def _is_sealed(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {SEALED} and isinstance(value[SEALED], str)


def seal(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, dict):
        return {k: (v if _is_sealed(v) else {SEALED: secrets.encrypt(json.dumps(v))})
                if is_sensitive(k) and v is not None else seal(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [seal(v, secrets) for v in value]
    return value


def unseal(value: Any, secrets: Secrets) -> Any:
    """Raises shared.crypto.DecryptionError when a sealed value does not open with this key."""
    if _is_sealed(value):
        return json.loads(secrets.decrypt(value[SEALED]))
    if isinstance(value, dict):
        return {k: unseal(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [unseal(v, secrets) for v in value]
    return value


def mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if is_sensitive(k) and v is not None else mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v) for v in value]
    return value
