"""ciba-admin config and feature: the server properties, and the feature flags among them."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from services.admin.commands.common import CommandError, ask_secret, database, master_secrets
from shared.config import sealed
from shared.config import store as config_store
from shared.config.model import ConfigError
from shared.settings import Settings


async def config_get(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        try:
            effective = await config_store.masked(conn, settings.env, master_secrets(settings))
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
    if args.key is None:
        return effective
    if args.key not in effective:
        raise CommandError(f"{args.key}: unknown server property")
    return effective[args.key]


async def config_set(settings: Settings, args: argparse.Namespace) -> Any:
    warnings: list[str] = []
    text = ask_secret(args.value, "value", "--value-stdin", args.value_stdin, confirm=False, warn=warnings.append)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if warnings and sealed.holds_secret(args.key, value):
        print(f"ciba-admin: warning: {warnings[0]}", file=sys.stderr)
    async with database(settings) as conn:
        try:
            return {args.key: await config_store.set_property(conn, settings.env, master_secrets(settings),
                                                              args.key, value)}
        except ConfigError as exc:
            raise CommandError(str(exc)) from None


async def config_unset(settings: Settings, args: argparse.Namespace) -> Any:
    async with database(settings) as conn:
        try:
            return {args.key: await config_store.unset_property(conn, settings.env, master_secrets(settings),
                                                                args.key)}
        except ConfigError as exc:
            raise CommandError(str(exc)) from None


async def _toggle_flag(settings: Settings, flag: str, enabled: bool) -> Any:
    async with database(settings) as conn:
        flags = set((await config_store.load(conn, settings.env, master_secrets(settings))).featureFlags)
        flags = flags | {flag} if enabled else flags - {flag}
        return {"featureFlags": await config_store.set_property(conn, settings.env, master_secrets(settings),
                                                                "featureFlags", sorted(flags))}


async def feature_enable(settings: Settings, args: argparse.Namespace) -> Any:
    return await _toggle_flag(settings, args.flag, True)


async def feature_disable(settings: Settings, args: argparse.Namespace) -> Any:
    return await _toggle_flag(settings, args.flag, False)
