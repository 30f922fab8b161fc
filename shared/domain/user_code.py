"""The user's CIBA user_code (CIBA Core 7.1): a secret the user chooses, which a client may be
asked to send with the request. It is stored only as an argon2 hash, like a password.

Set by the operator (``ciba-admin user set-code``) or by the user on the device pages
(``/device/account/user-code``); both check it with ``check_format`` and store its hash.
"""

from __future__ import annotations

MAX_LENGTH = 64


class InvalidUserCode(ValueError):
    """The code is empty or longer than MAX_LENGTH characters."""


def check_format(code: str) -> str:
    if not code or len(code) > MAX_LENGTH:
        raise InvalidUserCode(f"the user code must be 1 to {MAX_LENGTH} characters")
    return code
