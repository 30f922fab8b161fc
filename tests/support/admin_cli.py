"""Running ciba-admin as an operator does, against a test database."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from shared.settings import Settings
from tests.support.stack import BIN


def admin_env(settings: Settings) -> dict[str, str]:
    """The environment of ciba-admin for the database and key of ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBA_")}
    env |= {"CIBA_DATABASE_URL": settings.database_url, "CIBA_ENV": "development", "CIBA_ISSUER": settings.issuer,
            "CIBA_AMQP_URL": settings.amqp_url, "CIBA_BUS_NAMESPACE": settings.bus_namespace,
            "CIBA_BUS_QUEUE_TYPE": settings.bus_queue_type}
    if settings.secret_key is not None:
        env["CIBA_SECRET_KEY"] = settings.secret_key.get_secret_value()
    if settings.secret_keys is not None:
        env["CIBA_SECRET_KEYS"] = settings.secret_keys.get_secret_value()
    return env


def ciba_admin(settings: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """ciba-admin with ``stdin`` piped in (or no input at all): never a terminal."""
    return subprocess.run([str(BIN / "ciba-admin"), *args], env=admin_env(settings), capture_output=True,
                          text=True, input=stdin if stdin is not None else "", timeout=60)


def admin_json(settings: Settings, *args: str, stdin: str | None = None) -> Any:
    """What a successful ciba-admin command printed."""
    result = ciba_admin(settings, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
