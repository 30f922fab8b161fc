"""Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP), standard library only.

HMAC-SHA1, 30-second steps, 6 digits: what every authenticator app reads from an otpauth URI.
A code is accepted for the current step and one step either side (RFC 6238 5.2 recommends at
most one step of network delay), and only once: ``verify`` refuses any step at or before the
last one the user authenticated with, so a seen code cannot be replayed, not even the
previous step's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import datetime
from urllib.parse import quote, urlencode

STEP_SEC = 30
DIGITS = 6
WINDOW = 1  # steps accepted either side of the current one
SECRET_BYTES = 20  # RFC 4226 4 R6: 160 bits, the length of an HMAC-SHA1 key


def new_secret() -> str:
    """A fresh shared secret in base32 (20 random bytes: 32 characters, no padding)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app imports (Google's Key URI Format): the label is
    ``issuer:username``, so the issuer itself must not contain a colon."""
    if ":" in issuer:
        raise ValueError("the TOTP issuer name must not contain ':'")
    label = f"{quote(issuer, safe='')}:{quote(username, safe='')}"
    query = urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                       "digits": DIGITS, "period": STEP_SEC}, quote_via=quote)
    return f"otpauth://totp/{label}?{query}"


def step_at(now: datetime) -> int:
    """RFC 6238 4.2: T = floor((unix time - T0) / X), with T0 = 0 and X = 30."""
    return int(now.timestamp()) // STEP_SEC


def code_at(secret: str, step: int, *, digits: int = DIGITS) -> str:
    """HOTP (RFC 4226 5.3) of the step: dynamic truncation, then ``digits`` decimal digits."""
    mac = hmac.new(_key(secret), struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def verify(secret: str, code: str, now: datetime, last_step: int | None, *,
           digits: int = DIGITS) -> int | None:
    """The step ``code`` belongs to, if it is within the window and later than
    ``last_step``; else None. The caller records the step (conditionally) so it is used once."""
    given = "".join(code.split())  # apps show "123 456"
    if len(given) != digits or not given.isascii() or not given.isdigit():
        return None
    current = step_at(now)
    matched = None
    # Every candidate is compared, in constant time, whatever matched before.
    for step in range(current - WINDOW, current + WINDOW + 1):
        fresh = last_step is None or step > last_step
        if hmac.compare_digest(code_at(secret, step, digits=digits), given) and fresh and matched is None:
            matched = step
    return matched


def _key(secret: str) -> bytes:
    """Base32 as apps and people write it: any case, spaces, padding optional."""
    cleaned = "".join(secret.split()).upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
