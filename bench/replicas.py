"""Do notifications and callbacks scale out, and is each event still handled once?

    make up && CIBA_ENV=development .venv/bin/python -m bench.replicas [--requests 3000]

Against the running stack, twice: with the one notifier and one token-delivery that
`make up` started, then with a second replica of each (started here, stopped at the end).
Each round:

- creates REQUESTS requests for a ping client at /bc-authorize (16 at a time), while a local
  webhook receiver (127.0.0.1:3198, where `make bench` points the webhook notifier) counts
  the notifications: notifications per second, from the first request to the last webhook;
- approves them all at once (the decisions written straight to the database, as the device
  pages write them), while a local client notification endpoint counts the pings: callbacks
  per second, from the first decision to the last ping;
- checks in the database that every request was notified exactly once (one `sent` attempt)
  and pinged exactly once (one `delivered` attempt), and counts what the receivers saw twice.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
from aiohttp import web

from bench.run import harness_dir, prepare, wait_for_quiet_queues
from shared.crypto import Secrets
from shared.domain import lifecycle
from shared.repositories import auth_requests
from shared.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WEBHOOK_PORT, CALLBACK_PORT = 3198, 3197
CIBA_GRANT = "urn:openid:params:grant-type:ciba"


class Receivers:
    """The webhook (notifications) and the client notification endpoint (pings), counting."""

    def __init__(self) -> None:
        self.webhooks: collections.Counter[str] = collections.Counter()
        self.pings: collections.Counter[str] = collections.Counter()
        self.last_webhook = self.last_ping = 0.0

    async def webhook(self, request: web.Request) -> web.Response:
        self.webhooks[(await request.json())["notification_id"]] += 1
        self.last_webhook = time.monotonic()
        return web.Response(status=204)

    async def ping(self, request: web.Request) -> web.Response:
        self.pings[(await request.json())["auth_req_id"]] += 1
        self.last_ping = time.monotonic()
        return web.Response(status=204)


async def start_receivers(receivers: Receivers) -> list[web.AppRunner]:
    runners = []
    for port, path, handler in ((WEBHOOK_PORT, "/notify", receivers.webhook),
                                (CALLBACK_PORT, "/cb", receivers.ping)):
        app = web.Application()
        app.router.add_post(path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
    return runners


async def until(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def one_round(issuer: str, pool: asyncpg.Pool, secrets: Secrets, count: int) -> dict[str, float]:
    receivers = Receivers()
    runners = await start_receivers(receivers)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{issuer}/register", json={
                    "grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "ping",
                    "backchannel_client_notification_endpoint": f"http://127.0.0.1:{CALLBACK_PORT}/cb"}) as answer:
                client = await answer.json()
            auth = {"Authorization": "Basic " + base64.b64encode(
                f"{client['client_id']}:{client['client_secret']}".encode()).decode()}
            gate = asyncio.Semaphore(16)
            ids: list[str] = []

            async def start(n: int) -> None:
                async with gate, http.post(f"{issuer}/bc-authorize", headers=auth, data={
                        "scope": "openid", "login_hint": f"bench-user-{n % 100 + 1}",
                        "client_notification_token": uuid.uuid4().hex}) as answer:
                    ids.append((await answer.json())["auth_req_id"])

            began = time.monotonic()
            await asyncio.gather(*(start(n) for n in range(count)))
        await until(lambda: len(receivers.webhooks) >= count, 120)
        notify_s = receivers.last_webhook - began
        requests = [await auth_requests.get_by_hash(pool, secrets.hashes(i)) for i in ids]
        decided_at = time.monotonic()
        now = datetime.now(UTC)
        await asyncio.gather(*(lifecycle.decide(pool, r, approved=True, now=now, auth_time=now, acr="pwd",
                                                service="bench") for r in requests if r))
        await until(lambda: len(receivers.pings) >= count, 120)
        ping_s = receivers.last_ping - decided_at
        await asyncio.sleep(2)  # late duplicates, if any
        request_ids = [r.id for r in requests if r]
        sent = await pool.fetchval(
            """SELECT count(*) FROM (SELECT auth_request_id FROM notification_attempts
                WHERE auth_request_id = ANY($1) AND outcome = 'sent' GROUP BY 1 HAVING count(*) <> 1) x""",
            request_ids)
        delivered = await pool.fetchval(
            """SELECT count(*) FROM (SELECT auth_request_id FROM delivery_attempts
                WHERE auth_request_id = ANY($1) AND outcome = 'delivered' GROUP BY 1 HAVING count(*) <> 1) x""",
            request_ids)
        return {"notifications_per_s": len(receivers.webhooks) / notify_s,
                "callbacks_per_s": len(receivers.pings) / ping_s,
                "webhooks_twice": sum(1 for n in receivers.webhooks.values() if n > 1),
                "pings_twice": sum(1 for n in receivers.pings.values() if n > 1),
                "not_notified_once": sent, "not_delivered_once": delivered,
                "notified": len(receivers.webhooks), "pinged": len(receivers.pings)}
    finally:
        for runner in runners:
            await runner.cleanup()


def start_replicas() -> list[subprocess.Popen[bytes]]:
    # The second replicas have no management listener: the first ones hold the default ports.
    env = {"CIBA_ENV": "development", "CIBA_LOG_FORMAT": "json", **os.environ, "CIBA_MANAGEMENT_PORT": "0"}
    started = []
    for service in ("notifier", "token-delivery"):
        log = open(ROOT / ".run" / f"{service}-2.log", "ab")  # noqa: SIM115 - owned by the process
        started.append(subprocess.Popen([str(Path(sys.executable).parent / f"ciba-{service}")], env=env,
                                        stdout=log, stderr=subprocess.STDOUT))
    time.sleep(3)
    return started


async def main_async(count: int) -> None:
    settings = Settings()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=20)
    secrets = Secrets(settings.secret_key_bytes)
    try:
        one = await one_round(settings.issuer, pool, secrets, count)
        replicas = start_replicas()
        try:
            await asyncio.to_thread(wait_for_quiet_queues)
            two = await one_round(settings.issuer, pool, secrets, count)
        finally:
            for process in replicas:
                process.terminate()
                process.wait(30)
    finally:
        await pool.close()
    for name in one:
        print(f"{name:22s} one replica {one[name]:10.1f}   two replicas {two[name]:10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    prepare(harness_dir())  # the webhook notifier at 127.0.0.1:3198, and the bench users
    wait_for_quiet_queues()
    asyncio.run(main_async(args.requests))


if __name__ == "__main__":
    main()
