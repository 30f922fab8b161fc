"""ciba-admin's arguments: one function per noun, and the rule that lets identifiers begin
with a dash."""

from __future__ import annotations

import argparse
from importlib import metadata
from typing import TypeAlias

from services.admin import dlq
from shared.domain.auth_request import DeliveryMode, Status

# What add_subparsers returns: a noun's commands are added to it.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _version() -> str:
    try:
        return metadata.version("ciba-server")
    except metadata.PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Every command, one function per noun."""
    parser = argparse.ArgumentParser(
        prog="ciba-admin", description="Operate the CIBA server. Every command prints JSON on stdout and exits 0; "
                                       "a failure is one line on stderr and a non-zero exit.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="group", required=True)
    _db_commands(sub)
    _feature_commands(sub)
    _config_commands(sub)
    _user_commands(sub)
    _device_commands(sub)
    _client_commands(sub)
    _outbox_commands(sub)
    _secrets_commands(sub)
    _keys_commands(sub)
    _dlq_commands(sub)
    _token_commands(sub)
    _request_commands(sub)
    return parser


def _db_commands(sub: Subcommands) -> None:
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="action", required=True)
    upgrade = db.add_parser("upgrade", help="apply pending migrations")
    upgrade.add_argument("--create-database", action="store_true",
                         help="create the database first if it does not exist")
    upgrade.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                         help="wait up to SECONDS for Postgres to answer first (a migration job "
                              "started beside its database)")
    db.add_parser("status", help="print the applied, pending and unknown (newer) migrations as JSON")


def _feature_commands(sub: Subcommands) -> None:
    feature = sub.add_parser("feature", help="feature flags").add_subparsers(dest="action", required=True)
    for action in ("enable", "disable"):
        feature.add_parser(action, help=f"{action} a feature flag").add_argument(
            "flag", choices=["ciba"], help="ciba: the CIBA endpoints themselves")


def _config_commands(sub: Subcommands) -> None:
    config = sub.add_parser("config", help="server properties").add_subparsers(dest="action", required=True)
    config.add_parser("get", help="every property, or one (secrets shown masked)").add_argument(
        "key", nargs="?", help="a property name (default: all)")
    config_set = config.add_parser("set", help="set a property; the services apply it within seconds")
    config_set.add_argument("key", help="a property name (README, Server properties)")
    config_set.add_argument("value", nargs="?", metavar="VALUE|-|@FILE",
                            help="JSON if it parses as JSON, else a string; '-' reads it from standard "
                                 "input, '@FILE' from a file; left out, it is asked for (a value holding a "
                                 "secret should not be on the command line)")
    config_set.add_argument("--value-stdin", action="store_true", help="read the value from standard input")
    config.add_parser("unset", help="return a property to its default").add_argument("key", help="a property name")


def _user_commands(sub: Subcommands) -> None:
    user = sub.add_parser("user", help="the user directory").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add a user to the directory; prints their sub")
    add.add_argument("username", help="what they sign in with (1 to 200 characters)")
    add.add_argument("--password", metavar="-|@FILE",
                     help="'-' reads it from standard input, '@FILE' from a file; left out, it is asked for "
                          "at a prompt (a plain password here is deprecated: the process list shows it)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.add_argument("--email", help="their email address (a login_hint may name it)")
    add.add_argument("--phone", help="their phone number, E.164 (a login_hint may name it)")
    add.add_argument("--claim", action="append", default=[], metavar="NAME=VALUE",
                     help="another OpenID claim for the id_token and userinfo; repeatable")
    code = user.add_parser("set-code", help="set the user's CIBA user_code")
    code.add_argument("username", help="whose code")
    code.add_argument("code", nargs="?", metavar="-|@FILE",
                      help="'-' reads it from standard input, '@FILE' from a file; left out, it is asked for "
                           "(a plain code here is deprecated)")
    code.add_argument("--code-stdin", action="store_true", help="read the code from standard input")
    set_totp = user.add_parser("set-totp", help="give the user a new TOTP secret; prints the otpauth URI")
    set_totp.add_argument("username", help="whose TOTP secret")
    listing = user.add_parser("list", help="users by username (never a password or code)")
    listing.add_argument("--search", metavar="TEXT", help="only usernames, emails or phone numbers containing TEXT")
    state = listing.add_mutually_exclusive_group()
    state.add_argument("--disabled", action="store_const", const=True, dest="disabled", help="only disabled users")
    state.add_argument("--active", action="store_const", const=False, dest="disabled", help="only active users")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    user.add_parser("show", help="one user: claims, state, whether a user code and TOTP are set").add_argument(
        "username", help="whom")
    passwd = user.add_parser("passwd", help="set the user's password")
    passwd.add_argument("username", help="whose password")
    passwd.add_argument("password", nargs="?", metavar="-|@FILE",
                        help="'-' reads it from standard input, '@FILE' from a file; left out, it is asked for")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    user.add_parser("disable", help="the user can no longer be found or sign in; their pending requests are "
                                    "denied").add_argument("username", help="whom")
    user.add_parser("enable", help="undo disable").add_argument("username", help="whom")
    user.add_parser("remove", help="delete the user with their history and devices (disable them first if "
                                   "requests are pending)").add_argument("username", help="whom")


def _device_commands(sub: Subcommands) -> None:
    device = sub.add_parser("device", help="authentication devices registered for push").add_subparsers(
        dest="action", required=True)
    device.add_parser("list", help="a user's registered devices (push tokens shown by their end)").add_argument(
        "username", help="whose devices")
    device_remove = device.add_parser("remove", help="forget a device: it gets no more push notifications")
    device_remove.add_argument("device_id", help="its device_registration_id, as `device list` prints it")


def _client_commands(sub: Subcommands) -> None:
    client = sub.add_parser("client", help="registered clients").add_subparsers(dest="action", required=True)
    client.add_parser("list", help="registered clients and their metadata (never a secret)")

    def metadata_arguments(command: argparse.ArgumentParser) -> None:
        command.add_argument("--metadata", metavar="FILE|-", help="client metadata as at /register (RFC 7591), as "
                                                                 "JSON in a file or on standard input")
        command.add_argument("--name", help="client_name")
        command.add_argument("--delivery-mode", choices=[mode.value for mode in DeliveryMode],
                             help="backchannel_token_delivery_mode")
        command.add_argument("--notification-endpoint", help="backchannel_client_notification_endpoint")
        command.add_argument("--auth-method", help="token_endpoint_auth_method")
        command.add_argument("--scope", help="space-separated scopes (must include openid)")
        command.add_argument("--grant", action="append", help="a grant type; repeatable (default: the CIBA grant)")

    client_add = client.add_parser("add", help="register a client as /register would; prints its secret once")
    metadata_arguments(client_add)
    client.add_parser("show", help="one client's metadata (never its secret)").add_argument(
        "client_id", help="whose")
    client_update = client.add_parser("update", help="change a client's metadata: the fields given replace "
                                                     "those registered, the others stay")
    client_update.add_argument("client_id", help="whose")
    metadata_arguments(client_update)
    client.add_parser("remove", help="delete a client with its requests and tokens").add_argument(
        "client_id", help="whom")
    client.add_parser("rotate-secret", help="give the client a new secret (printed once); the old one stops "
                                            "working at once").add_argument("client_id", help="whose")


def _outbox_commands(sub: Subcommands) -> None:
    parked = sub.add_parser("outbox", help="events the broker refused, set aside").add_subparsers(
        dest="action", required=True)
    parked.add_parser("list", help="parked events with their last error")
    retry = parked.add_parser("retry", help="send parked events again")
    retry.add_argument("ids", nargs="*", type=int, metavar="ID", help="parked events, as `outbox list` prints them")
    retry.add_argument("--all", action="store_true", help="every parked event")


def _secrets_commands(sub: Subcommands) -> None:
    master = sub.add_parser("secrets", help="the master keys (CIBA_SECRET_KEYS)").add_subparsers(
        dest="action", required=True)
    master.add_parser("rekey", help="re-encrypt and re-hash what is stored under an older master key with the "
                                    "newest (the first of CIBA_SECRET_KEYS); resumable, progress on stderr")


def _keys_commands(sub: Subcommands) -> None:
    keys = sub.add_parser("keys", help="signing keys and their rotation").add_subparsers(dest="action", required=True)
    keys.add_parser("list", help="every key: kid, algorithms, state, created, activation and retirement times")
    rotate = keys.add_parser("rotate", help="add a key: published in /jwks at once, signing after "
                                            "signingKeyPrepublishSec")
    rotate.add_argument("--alg", choices=["RS256", "PS256", "ES256"], default="RS256",
                        help="the algorithm the key is for (RS256 and PS256 share an RSA key; default RS256)")
    keys.add_parser("retire", help="stop signing with a key now; it leaves /jwks after "
                                   "signingKeyRetireAfterSec").add_argument("kid", help="as `keys list` prints it")


def _dlq_commands(sub: Subcommands) -> None:
    dead = sub.add_parser("dlq", help="dead-letter queues: events whose attempts are spent").add_subparsers(
        dest="action", required=True)
    dead_list = dead.add_parser("list", help="messages per dead queue, and the first few")
    dead_list.add_argument("--service", choices=dlq.SERVICES, help="one service's queue (default: both)")
    dead_list.add_argument("--sample", type=int, default=10, help="messages shown per queue (default 10)")
    dead_replay = dead.add_parser("replay", help="send dead messages back to their work queue as first attempts")
    dead_replay.add_argument("service", choices=dlq.SERVICES, help="whose dead queue")
    dead_replay.add_argument("--limit", type=int, help="at most this many (default: all)")
    dead.add_parser("purge", help="empty a dead queue").add_argument("service", choices=dlq.SERVICES,
                                                                     help="whose dead queue")


def _token_commands(sub: Subcommands) -> None:
    token = sub.add_parser("token", help="issued tokens").add_subparsers(dest="action", required=True)
    revoke = token.add_parser("revoke", help="revoke an access token by its jti, or every token of a grant; "
                                             "/userinfo and the refresh grant refuse them at once")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--jti", help="an access token's jti")
    which.add_argument("--grant", metavar="ID", help="the request the tokens were issued for: its id (as "
                                                      "`request list` prints it) or its auth_req_id")


def _request_commands(sub: Subcommands) -> None:
    request = sub.add_parser("request", help="CIBA requests").add_subparsers(dest="action", required=True)
    request.add_parser("show", help="a request's whole life: history, notification and delivery attempts").add_argument(
        "id", metavar="ID", help="its auth_req_id, or its id as `request list` prints it")
    listing = request.add_parser("list", help="requests, newest first: find a stuck sign-in")
    listing.add_argument("--status", choices=[status.value for status in Status],
                         help="only requests in this state")
    listing.add_argument("--client", metavar="CLIENT_ID", help="only this client's requests")
    listing.add_argument("--user", metavar="USERNAME", help="only this user's requests")
    listing.add_argument("--older-than", type=float, metavar="SECONDS", help="created more than SECONDS ago")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    cancel = request.add_parser("cancel", help="end a pending request as failed; the client is told the reason")
    cancel.add_argument("id", metavar="ID", help="its auth_req_id, or its id as `request list` prints it")
    cancel.add_argument("--reason", required=True, help="what the client is told (printable ASCII, 200 at most)")


def identifiers_may_start_with_a_dash(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Kids, auth_req_ids, jtis and device ids are base64url: one in 64 begins with '-', which argparse
    would take for an unknown option. Such a word goes after a '--', where only positionals are read,
    and a value given to an option is joined to it ('--reason=-x')."""
    if "--" in argv:
        return argv
    options: dict[str, argparse.Action] = {}

    def collect(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            options.update(dict.fromkeys(action.option_strings, action))
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    collect(child)

    collect(parser)
    words: list[str] = []
    identifiers: list[str] = []
    for word in argv:
        previous = options.get(words[-1]) if words else None
        if previous is not None and previous.nargs is None and word.startswith("-"):
            words[-1] = f"{words[-1]}={word}"
        elif word.startswith("-") and word != "-" and word.split("=", 1)[0] not in options:
            identifiers.append(word)
        else:
            words.append(word)
    return words + ["--", *identifiers] if identifiers else words
