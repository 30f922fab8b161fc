"""TOTP (RFC 6238): the published test vectors, the window of one step either side, and a
code being good once."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from shared import totp

# RFC 6238 appendix B: the SHA1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)  # a multiple of 30 s since the epoch


def at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


@pytest.mark.parametrize(
    ("unix_time", "expected"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc_6238_sha1_test_vectors(unix_time: int, expected: str) -> None:
    assert totp.code_at(RFC_SECRET, totp.step_at(at(unix_time)), digits=8) == expected
    assert totp.verify(RFC_SECRET, expected, at(unix_time), None, digits=8) == unix_time // 30


@pytest.mark.parametrize(
    ("counter", "expected"),
    list(enumerate(["755224", "287082", "359152", "969429", "338314",
               "254676", "287922", "162583", "399871", "520489"])),
)
def test_rfc_4226_six_digit_hotp_values(counter: int, expected: str) -> None:
    assert totp.code_at(RFC_SECRET, counter) == expected


def test_new_secrets_are_20_random_bytes_in_base32() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret)) == 20 and len(secret) == 32
    assert secret != totp.new_secret()


@pytest.mark.parametrize("offset_steps", [-1, 0, 1])
def test_the_current_step_and_one_either_side_are_accepted(offset_steps: int) -> None:
    secret = totp.new_secret()
    step = totp.step_at(T0) + offset_steps
    assert totp.verify(secret, totp.code_at(secret, step), T0, None) == step


@pytest.mark.parametrize("offset_steps", [-3, -2, 2, 3])
def test_codes_two_or_more_steps_away_are_refused(offset_steps: int) -> None:
    secret = totp.new_secret()
    assert totp.verify(secret, totp.code_at(secret, totp.step_at(T0) + offset_steps), T0, None) is None


def test_a_code_is_good_once() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_at(T0))
    used = totp.verify(secret, code, T0, None)
    assert used is not None
    assert totp.verify(secret, code, T0, used) is None
    assert totp.verify(secret, code, T0 + timedelta(seconds=29), used) is None


def test_an_earlier_steps_code_is_refused_once_a_later_one_was_used() -> None:
    secret = totp.new_secret()
    current = totp.step_at(T0)
    assert totp.verify(secret, totp.code_at(secret, current - 1), T0, current) is None
    assert totp.verify(secret, totp.code_at(secret, current + 1), T0, current) == current + 1


@pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345\x00"])
def test_malformed_codes_are_refused(code: str) -> None:
    assert totp.verify(totp.new_secret(), code, T0, None) is None


def test_spaces_in_a_code_are_ignored() -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, totp.step_at(T0))
    assert totp.verify(secret, f" {code[:3]} {code[3:]} ", T0, None) == totp.step_at(T0)


def test_a_code_of_no_step_in_the_window_is_refused() -> None:
    current = totp.step_at(T0)
    window = {totp.code_at(RFC_SECRET, step) for step in range(current - 1, current + 2)}
    wrong = next(c for c in (f"{n:06d}" for n in range(10)) if c not in window)
    assert totp.verify(RFC_SECRET, wrong, T0, None) is None


def test_provisioning_uri_carries_what_authenticator_apps_read() -> None:
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXP", "alice smith", "login.example.com")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/login.example.com:alice smith"
    assert parse_qs(parts.query) == {"secret": ["JBSWY3DPEHPK3PXP"], "issuer": ["login.example.com"],
                                     "algorithm": ["SHA1"], "digits": ["6"], "period": ["30"]}
    assert uri.startswith("otpauth://totp/login.example.com:alice%20smith?secret=JBSWY3DPEHPK3PXP&")


def test_an_issuer_with_a_colon_is_refused() -> None:
    with pytest.raises(ValueError):
        totp.provisioning_uri("JBSWY3DPEHPK3PXP", "alice", "bank:prod")
