"""Secrets at rest: Fernet encryption, keyed hashes and random tokens."""

from __future__ import annotations

import re
import time

import pytest
from cryptography.fernet import Fernet, InvalidToken

from shared.crypto import DecryptionError, Secrets, constant_time_equal, new_token

KEY = Fernet.generate_key()
OTHER_KEY = Fernet.generate_key()


def test_decrypt_returns_what_encrypt_was_given():
    secrets = Secrets(KEY)
    plaintext = "-----BEGIN PRIVATE KEY----- caf\u00e9 \u2603"

    ciphertext = secrets.encrypt(plaintext)

    assert plaintext not in ciphertext
    assert secrets.decrypt(ciphertext) == plaintext
    assert Secrets(KEY).decrypt(ciphertext) == plaintext


def test_encrypting_the_same_value_twice_gives_different_ciphertexts():
    secrets = Secrets(KEY)

    assert secrets.encrypt("same") != secrets.encrypt("same")


def test_decrypt_under_a_different_key_raises_decryption_error():
    ciphertext = Secrets(KEY).encrypt("secret")

    with pytest.raises(DecryptionError):
        Secrets(OTHER_KEY).decrypt(ciphertext)


@pytest.mark.parametrize("garbage", ["", "not a ciphertext", "gAAAAABtampered"])
def test_decrypt_of_garbage_raises_decryption_error(garbage):
    with pytest.raises(DecryptionError):
        Secrets(KEY).decrypt(garbage)


def test_decrypt_of_a_tampered_ciphertext_raises_decryption_error():
    ciphertext = Secrets(KEY).encrypt("secret")
    middle = len(ciphertext) // 2
    tampered = ciphertext[:middle] + ("A" if ciphertext[middle] != "A" else "B") + ciphertext[middle + 1:]

    with pytest.raises(DecryptionError):
        Secrets(KEY).decrypt(tampered)


def test_encryption_key_is_not_the_master_key():
    # The master key is split into an encryption key and a hashing key (never used directly).
    ciphertext = Secrets(KEY).encrypt("secret")

    with pytest.raises(InvalidToken):
        Fernet(KEY).decrypt(ciphertext.encode())


def test_ciphertext_older_than_ttl_is_refused(monkeypatch):
    secrets = Secrets(KEY)
    with monkeypatch.context() as past:
        two_minutes_ago = time.time() - 120
        past.setattr(time, "time", lambda: two_minutes_ago)
        ciphertext = secrets.encrypt("device reference")

    with pytest.raises(DecryptionError):
        secrets.decrypt(ciphertext, ttl=60)
    assert secrets.decrypt(ciphertext, ttl=600) == "device reference"
    assert secrets.decrypt(ciphertext) == "device reference"


def test_keyed_hash_is_deterministic_for_one_key():
    assert Secrets(KEY).hash("auth-req-id") == Secrets(KEY).hash("auth-req-id")
    assert len(Secrets(KEY).hash("auth-req-id")) == 32


def test_keyed_hash_differs_across_keys_and_values():
    assert Secrets(KEY).hash("auth-req-id") != Secrets(OTHER_KEY).hash("auth-req-id")
    assert Secrets(KEY).hash("auth-req-id") != Secrets(KEY).hash("auth-req-id2")


def test_verify_hash_accepts_only_the_hashed_value():
    secrets = Secrets(KEY)
    stored = secrets.hash("client-secret")

    assert secrets.verify_hash("client-secret", stored)
    assert not secrets.verify_hash("client-secret ", stored)
    assert not Secrets(OTHER_KEY).verify_hash("client-secret", stored)


def test_new_token_uses_only_url_safe_characters_and_has_at_least_160_bits():
    tokens = {new_token() for _ in range(200)}

    assert len(tokens) == 200
    for token in tokens:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token)
        assert len(token) * 6 >= 160


@pytest.mark.parametrize(("nbytes", "length"), [(20, 27), (32, 43), (64, 86)])
def test_new_token_length_follows_the_requested_bytes(nbytes, length):
    assert len(new_token(nbytes)) == length


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [("abc", "abc", True), ("abc", "abd", False), (b"abc", "abc", True), ("abc", "abcd", False)],
)
def test_constant_time_equal_compares_str_and_bytes(a, b, equal):
    assert constant_time_equal(a, b) is equal


def test_tokens_never_start_with_a_dash_so_command_lines_take_them() -> None:
    from shared.crypto import new_token

    assert not any(new_token(32).startswith("-") for _ in range(5000))
