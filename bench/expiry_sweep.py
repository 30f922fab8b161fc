"""How fast the expiry sweep expires requests that fall due together.

    .venv/bin/python -m bench.expiry_sweep [--requests N] [--database-url URL]

Creates a scratch database on the server of CIBA_DATABASE_URL (or --database-url), loads N
pending requests whose deadline has passed (half ping, half poll, as one set-based INSERT),
then runs the request-processor's sweep (services.request_processor.expiry_sweep.sweep_once)
with the default chunk size until none is left, and prints requests expired per second.
The scratch database is dropped afterwards. Nothing else needs to run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.request_processor.expiry_sweep import sweep_once
from shared.crypto import Secrets, new_token
from shared.db import migrate
from shared.logging import configure_logging
from shared.runtime import open_runtime
from shared.settings import Settings


async def load(dsn: str, count: int, auth_req_id_enc: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await migrate.upgrade(conn)
        await conn.execute(
            """INSERT INTO clients (client_id, token_endpoint_auth_method, grant_types, scope,
                                    backchannel_token_delivery_mode, metadata)
               VALUES ('bench', 'client_secret_basic', '{urn:openid:params:grant-type:ciba}', '{openid}',
                       'ping', '{}')""")
        await conn.execute("INSERT INTO users (sub, username, password_hash) VALUES ('bench', 'bench', 'x')")
        await conn.execute(
            """INSERT INTO auth_requests (id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode,
                                          scope, status, created_at, expires_at)
               SELECT gen_random_uuid(), sha256(n::text::bytea), $2, 'bench', 'bench',
                      CASE WHEN n % 2 = 0 THEN 'ping' ELSE 'poll' END, '{openid}', 'pending',
                      now() - interval '20 minutes', now() - interval '1 minute'
                 FROM generate_series(1, $1) n""", count, auth_req_id_enc)
        await conn.execute("ANALYZE auth_requests")
    finally:
        await conn.close()


async def run(server_dsn: str, count: int) -> None:
    name = f"ciba_bench_sweep_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(server_dsn)
    admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        settings = Settings(env="development", database_url=dsn, migrate_on_start=False)
        # The service's own log format and level, written where nobody reads: their cost counts.
        configure_logging("request-processor", "json", "info", stream=open(os.devnull, "w"))  # noqa: SIM115
        await load(dsn, count, Secrets(settings.secret_key_bytes).encrypt(new_token(32)))
        async with open_runtime(settings, "request-processor") as rt:
            chunk = rt.config.backchannelRequestsProcessorJobChunkSize
            started = time.perf_counter()
            expired = await sweep_once(rt.pool, rt.clock, chunk=chunk, service=rt.service)
            elapsed = time.perf_counter() - started
        print(f"expired {expired} of {count} in {elapsed:.2f} s: {expired / elapsed:,.0f} requests/s "
              f"(chunks of {chunk})")
    finally:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name)
        await admin.execute(f'DROP DATABASE "{name}"')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get(
        "CIBA_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ciba"))
    args = parser.parse_args()
    asyncio.run(run(args.database_url, args.requests))


if __name__ == "__main__":
    main()
