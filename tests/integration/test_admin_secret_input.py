"""ciba-admin keeps secrets off its command line: passwords, user codes and configuration
values holding a secret come from a prompt on a terminal, from standard input, or from a file;
the old plain argument still works for one release, with a warning."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import select
import subprocess
import uuid

import pytest

from shared.passwords import verify_password
from shared.repositories import users
from shared.settings import Settings
from tests.support.admin_cli import admin_env, ciba_admin
from tests.support.stack import BIN

PASSWORD = "correct horse battery"


def ciba_admin_at_a_terminal(settings: Settings, *args: str, answers: list[str]) -> tuple[int, str]:
    """ciba-admin on a pseudo-terminal of its own (its controlling terminal, where getpass
    asks), answering each prompt in turn; returns the exit status and what the terminal showed."""
    controller, terminal = pty.openpty()
    # util-linux's setsid: a new session whose controlling terminal is standard input's
    # (a preexec_fn doing the same could deadlock in this threaded process).
    process = subprocess.Popen(["setsid", "--ctty", str(BIN / "ciba-admin"), *args], env=admin_env(settings),
                               stdin=terminal, stdout=terminal, stderr=terminal)
    os.close(terminal)
    shown = b""
    pending = list(answers)
    while True:
        if not select.select([controller], [], [], 30)[0]:
            process.kill()
            raise AssertionError(f"ciba-admin stopped answering; the terminal showed {shown!r}")
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        # A prompt ends in ": ". Answer only then: getpass discards what was typed before it
        # turned echo off (TCSAFLUSH).
        if pending and shown.endswith(b": "):
            os.write(controller, pending.pop(0).encode() + b"\n")
    os.close(controller)
    return process.wait(timeout=60), shown.decode(errors="replace")


def _username() -> str:
    return f"secret-input-{uuid.uuid4().hex[:10]}"


async def _password_of(pool, username: str) -> str:
    return (await users.get_by_username(pool, username)).password_hash


async def test_a_password_from_standard_input(settings, pool) -> None:
    name = _username()
    result = ciba_admin(settings, "user", "add", name, "--password-stdin", stdin=f"{PASSWORD}\n")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert verify_password(await _password_of(pool, name), PASSWORD)


async def test_a_password_from_a_file_or_from_a_dash(settings, pool, tmp_path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text(PASSWORD + "\n")
    name = _username()
    assert ciba_admin(settings, "user", "add", name, "--password", f"@{secret_file}").returncode == 0
    assert verify_password(await _password_of(pool, name), PASSWORD)
    name = _username()
    assert ciba_admin(settings, "user", "add", name, "--password", "-", stdin=PASSWORD).returncode == 0
    assert verify_password(await _password_of(pool, name), PASSWORD)


async def test_a_plain_password_still_works_with_a_deprecation_warning(settings, pool) -> None:
    name = _username()
    result = ciba_admin(settings, "user", "add", name, "--password", PASSWORD)
    assert result.returncode == 0
    assert result.stderr.startswith("ciba-admin: warning: a password on the command line stays in the process list")
    assert verify_password(await _password_of(pool, name), PASSWORD)


@pytest.mark.parametrize(("args", "stdin", "error"), [
    ([], "", "ciba-admin: no password given and no terminal to ask on: use --password-stdin or '@FILE'"),
    (["--password-stdin"], "", "ciba-admin: no password on standard input"),
    (["--password", "@/nonexistent/password"], "", "ciba-admin: cannot read the password from "
                                                   "/nonexistent/password: No such file or directory"),
])
def test_without_a_readable_password_nothing_is_created(settings, args, stdin, error) -> None:
    result = ciba_admin(settings, "user", "add", _username(), *args, stdin=stdin)
    assert (result.returncode, result.stdout, result.stderr.strip()) == (1, "", error)


async def test_at_a_terminal_the_password_is_asked_for_twice_without_echo(settings, pool) -> None:
    name = _username()
    code, shown = await asyncio.to_thread(ciba_admin_at_a_terminal, settings, "user", "add", name,
                                          answers=[PASSWORD, PASSWORD])
    assert code == 0, shown
    assert "Password:" in shown and "Password again:" in shown
    assert PASSWORD not in shown  # not echoed
    assert verify_password(await _password_of(pool, name), PASSWORD)

    code, shown = await asyncio.to_thread(ciba_admin_at_a_terminal, settings, "user", "add", _username(),
                                          answers=[PASSWORD, PASSWORD + "x"])
    assert code == 1
    assert "ciba-admin: the two passwords differ" in shown


async def test_a_user_code_from_standard_input(settings, pool) -> None:
    name = _username()
    assert ciba_admin(settings, "user", "add", name, "--password-stdin", stdin=PASSWORD).returncode == 0
    result = ciba_admin(settings, "user", "set-code", name, "--code-stdin", stdin="river 42\n")
    assert (result.returncode, result.stderr) == (0, "")
    assert verify_password((await users.get_by_username(pool, name)).user_code_hash, "river 42")


def test_a_configuration_value_holding_a_secret_is_warned_about_only_on_the_command_line(settings) -> None:
    webhook = {"notifier": "webhook", "webhook": {"url": "https://hooks.example.com/ciba", "secret": "s3cret-value"}}
    key = "cibaEndUserNotificationConfig"
    try:
        plain = ciba_admin(settings, "config", "set", key, json.dumps(webhook))
        assert plain.returncode == 0, plain.stderr
        assert "warning: a value on the command line" in plain.stderr

        piped = ciba_admin(settings, "config", "set", key, "--value-stdin", stdin=json.dumps(webhook))
        assert (piped.returncode, piped.stderr) == (0, "")
        assert "s3cret-value" not in piped.stdout  # shown masked

        # A value without a secret is no one's concern on the command line.
        harmless = ciba_admin(settings, "config", "set", "backchannelRequestsProcessorJobIntervalSec", "1")
        assert (harmless.returncode, harmless.stderr) == (0, "")
    finally:
        ciba_admin(settings, "config", "unset", key)
        ciba_admin(settings, "config", "unset", "backchannelRequestsProcessorJobIntervalSec")
