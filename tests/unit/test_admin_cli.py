"""ciba-admin explains itself: --version, and help on every command and every argument."""

from __future__ import annotations

import argparse

import pytest

from services.admin.__main__ import COMMANDS
from services.admin.arguments import build_parser, identifiers_may_start_with_a_dash


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    [action] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return action


def test_every_command_and_argument_has_help() -> None:
    groups = _subparsers(build_parser())
    missing = []
    for group_choice in groups._choices_actions:
        if not group_choice.help:
            missing.append(group_choice.dest)
        group = groups.choices[group_choice.dest]
        actions = _subparsers(group)
        for choice in actions._choices_actions:
            command = actions.choices[choice.dest]
            if not choice.help:
                missing.append(f"{group_choice.dest} {choice.dest}")
            missing += [f"{group_choice.dest} {choice.dest} {arg.dest}" for arg in command._actions
                        if not isinstance(arg, argparse._HelpAction) and not arg.help]
    assert missing == []


def test_every_command_is_wired() -> None:
    groups = _subparsers(build_parser())
    declared = {(group, action) for group, parser in groups.choices.items()
                for action in _subparsers(parser).choices}
    assert declared == set(COMMANDS)


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("ciba-admin ")


@pytest.mark.parametrize(("argv", "expected"), [
    (["keys", "retire", "-j4I2Mp50snVp0JPOWLJFfn"], {"kid": "-j4I2Mp50snVp0JPOWLJFfn"}),
    (["keys", "retire", "--", "-j4I2Mp50snVp0JPOWLJFfn"], {"kid": "-j4I2Mp50snVp0JPOWLJFfn"}),
    (["request", "cancel", "-xY", "--reason", "-because"], {"id": "-xY", "reason": "-because"}),
    (["request", "cancel", "--reason", "fraud", "-xY"], {"id": "-xY", "reason": "fraud"}),
    (["token", "revoke", "--jti", "-abc"], {"jti": "-abc"}),
    (["request", "list", "--limit", "5"], {"limit": 5}),
])
def test_identifiers_beginning_with_a_dash_are_read_as_identifiers(argv, expected) -> None:
    parser = build_parser()
    args = parser.parse_args(identifiers_may_start_with_a_dash(parser, argv))
    assert {key: getattr(args, key) for key in expected} == expected


def test_an_unknown_option_is_still_refused(capsys) -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(identifiers_may_start_with_a_dash(parser, ["keys", "list", "--bogus"]))
    assert "--bogus" in capsys.readouterr().err
