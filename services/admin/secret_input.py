"""Secrets for ciba-admin that never sit on its command line, where the process list and the
shell's history would keep them.

A secret argument (a password, a user_code, a configuration value holding a secret) is:

- missing: asked for at a prompt (getpass, twice for a new one) when there is a terminal;
- ``-``, or the command's ``--...-stdin`` flag: the first line of standard input;
- ``@FILE``: the file's content (a Docker or Kubernetes secret mount);
- anything else: taken as the secret itself, with a warning: that form is deprecated and goes
  away in the next release.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from typing import TextIO


class SecretInputError(Exception):
    """No way to read the secret, or the two prompts disagreed; one line for the operator."""


DEPRECATED = ("a {what} on the command line stays in the process list and the shell history; "
              "leave it out to be prompted, or use {flag}, '-' or '@FILE' (the plain form goes away in the "
              "next release)")


def read_secret(given: str | None, *, what: str, stdin_flag: str, from_stdin: bool = False, confirm: bool = True,
                stdin: TextIO | None = None, warn: Callable[[str], None] | None = None,
                prompt: Callable[[str], str] = getpass.getpass) -> str:
    """The secret, from wherever the operator chose to give it (see the module's docstring)."""
    stdin = stdin or sys.stdin
    if from_stdin or given == "-":
        if given not in (None, "-"):
            raise SecretInputError(f"give the {what} once: as an argument or with {stdin_flag}")
        return _first_line(stdin, what)
    if given is not None and given.startswith("@") and len(given) > 1:
        return _from_file(given[1:], what)
    if given is not None:
        (warn or _warn)(DEPRECATED.format(what=what, flag=stdin_flag))
        return given
    if not stdin.isatty():
        raise SecretInputError(f"no {what} given and no terminal to ask on: use {stdin_flag} or '@FILE'")
    first = prompt(f"{what[:1].upper()}{what[1:]}: ")
    if confirm and prompt(f"{what[:1].upper()}{what[1:]} again: ") != first:
        raise SecretInputError(f"the two {what}s differ")
    return first


def _first_line(stdin: TextIO, what: str) -> str:
    line = stdin.readline().rstrip("\r\n")
    if not line:
        raise SecretInputError(f"no {what} on standard input")
    return line


def _from_file(path: str, what: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            content = file.read().strip()
    except OSError as exc:
        raise SecretInputError(f"cannot read the {what} from {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SecretInputError(f"cannot read the {what} from {path}: not UTF-8 text") from None
    if not content:
        raise SecretInputError(f"{path} is empty")
    return content


def _warn(message: str) -> None:
    print(f"ciba-admin: warning: {message}", file=sys.stderr)
