"""ciba-admin user set-totp (prints the otpauth URI, keeps the secret encrypted) and
user set-code (the same user_code rule and hash as the device pages)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from services.admin import commands
from shared.passwords import verify_password
from shared.repositories import users
from shared.settings import Settings
from tests.support.gateway_client import add_user
from tests.support.stack import BIN


async def ciba_admin(settings: Settings, *args: str) -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBA_")}
    env |= {"CIBA_DATABASE_URL": settings.database_url, "CIBA_ENV": "development",
            "CIBA_ISSUER": settings.issuer}
    if settings.secret_key is not None:
        env["CIBA_SECRET_KEY"] = settings.secret_key.get_secret_value()
    process = await asyncio.create_subprocess_exec(str(BIN / "ciba-admin"), *args, env=env,
                                                   stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, out.decode(), err.decode()


async def test_set_totp_prints_an_otpauth_uri_and_stores_the_secret_encrypted(settings, gateway) -> None:
    user = await add_user(gateway)
    await gateway.rt.pool.execute("UPDATE users SET totp_last_step = 5 WHERE sub = $1", user.sub)

    code, out, err = await ciba_admin(settings, "user", "set-totp", user.username)
    assert code == 0, err
    printed = json.loads(out)
    assert set(printed) == {"username", "otpauth_uri"} and printed["username"] == user.username
    uri = urlsplit(printed["otpauth_uri"])
    assert (uri.scheme, uri.netloc, unquote(uri.path)) == ("otpauth", "totp", f"/127.0.0.1:{user.username}")
    query = {k: v[0] for k, v in parse_qs(uri.query).items()}
    assert query == {"secret": query["secret"], "issuer": "127.0.0.1", "algorithm": "SHA1", "digits": "6",
                     "period": "30"}
    assert len(base64.b32decode(query["secret"])) == 20

    stored = await users.get(gateway.rt.pool, user.sub)
    assert query["secret"] not in stored.totp_secret_enc
    assert gateway.rt.secrets.decrypt(stored.totp_secret_enc) == query["secret"]
    assert stored.totp_last_step is None


async def test_set_totp_for_an_unknown_user_fails_with_one_line(settings) -> None:
    code, out, err = await ciba_admin(settings, "user", "set-totp", "no-such-user")
    assert code != 0 and out == ""
    assert err.strip() == "ciba-admin: no user named 'no-such-user'"


async def test_set_code_stores_an_argon2_hash_of_the_code(settings, gateway) -> None:
    user = await add_user(gateway)
    await commands.user_set_code(settings,
                                 argparse.Namespace(username=user.username, code="river 42", code_stdin=False))
    assert verify_password((await users.get(gateway.rt.pool, user.sub)).user_code_hash, "river 42")


@pytest.mark.parametrize("code", ["", "x" * 65])
async def test_set_code_refuses_codes_out_of_bounds(settings, gateway, code) -> None:
    user = await add_user(gateway)
    with pytest.raises(commands.CommandError, match="1 to 64 characters"):
        await commands.user_set_code(settings, argparse.Namespace(username=user.username, code=code, code_stdin=False))
