"""Latency and throughput of the hot paths against a running stack (`make up`).

    .venv/bin/python -m bench.http_latency [--issuer URL] [--requests N] [--concurrency C]

Creates a user (ciba-admin) and a poll client, then measures POST /bc-authorize (one
transaction: request, history, outbox event) and POST /token polls on pending requests (one
indexed statement), and approve-to-token latency with long polling. Prints percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return (f"p50 {pick(0.50):.1f} ms  p95 {pick(0.95):.1f} ms  p99 {pick(0.99):.1f} ms  "
            f"mean {statistics.mean(ordered) * 1000:.1f} ms")




async def run(issuer: str, total: int, concurrency: int) -> None:
    username = f"bench-{uuid.uuid4().hex[:8]}"
    admin = Path(sys.executable).parent / "ciba-admin"
    subprocess.run([str(admin), "user", "add", username, "--password-stdin"],
                   check=True, capture_output=True, input=b"bench-password-1\n")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{issuer}/register", json={
                "grant_types": [CIBA_GRANT], "backchannel_token_delivery_mode": "poll"}) as response:
            client = await response.json()
        raw = f"{client['client_id']}:{client['client_secret']}".encode()
        auth = {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        gate = asyncio.Semaphore(concurrency)
        ids: list[str] = []

        async def authorize(_i: int) -> float:
            async with gate:
                started = time.perf_counter()
                async with http.post(f"{issuer}/bc-authorize", headers=auth,
                                     data={"scope": "openid", "login_hint": username}) as response:
                    ids.append((await response.json())["auth_req_id"])
                return time.perf_counter() - started

        async def poll(i: int) -> float:
            async with gate:
                started = time.perf_counter()
                async with http.post(f"{issuer}/token", headers=auth,
                                     data={"grant_type": CIBA_GRANT, "auth_req_id": ids[i]}) as response:
                    body = await response.json()
                assert body.get("error") == "authorization_pending", body
                return time.perf_counter() - started

        for name, step in (("bc-authorize", authorize), ("token poll", poll)):
            started = time.perf_counter()
            samples = await asyncio.gather(*(step(i) for i in range(total)))
            elapsed = time.perf_counter() - started
            print(f"{name:14s} n={total} c={concurrency}: {total / elapsed:7.0f} req/s  {percentiles(samples)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", default="http://127.0.0.1:8080")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps({"issuer": args.issuer}))
    asyncio.run(run(args.issuer, args.requests, args.concurrency))


if __name__ == "__main__":
    main()
