"""A real sign-in's latency while the account page is flooded with made-up usernames.

    .venv/bin/python -m bench.login_flood [--issuer URL] [--flood N] [--sources K] [--seconds S]

Each made-up username still costs one argon2 check (so timing does not tell which accounts
exist). N concurrent "attackers" post such logins to /device/account/user-code in a loop,
spread over K source addresses given in X-Forwarded-For; meanwhile a real user signs in
every half second from an address of its own. Start the gateway with
CIBA_TRUSTED_PROXIES=127.0.0.1 so it believes those addresses (a gateway that predates the
setting ignores them). Prints the real sign-ins' latency and answers, and the attackers'
answers by status. Run it once without the flood (--flood 0) for the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp

PATH = "/device/account/user-code"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def sign_in(http: aiohttp.ClientSession, issuer: str, username: str, password: str,
                  headers: dict[str, str] | None = None) -> int:
    async with http.get(f"{issuer}{PATH}") as page:
        match = _CSRF.search(await page.text())
    data = {"step": "login", "username": username, "password": password,
            "csrf_token": match[1] if match else ""}
    async with http.post(f"{issuer}{PATH}", data=data, headers=headers or {}, allow_redirects=False) as answer:
        await answer.read()
        return answer.status


async def run(issuer: str, flood: int, sources: int, seconds: float) -> None:
    username, password = f"bench-{uuid.uuid4().hex[:8]}", "bench-password-1"
    admin = Path(sys.executable).parent / "ciba-admin"
    subprocess.run([str(admin), "user", "add", username, "--password-stdin"], check=True, capture_output=True,
                   input=f"{password}\n".encode())
    statuses: collections.Counter[int] = collections.Counter()
    deadline = time.monotonic() + seconds

    async def attacker(n: int) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            while time.monotonic() < deadline:
                source = n % max(sources, 1)
                forwarded = {"X-Forwarded-For": f"198.18.{source // 250}.{source % 250 + 1}"}
                statuses[await sign_in(http, issuer, f"nobody-{uuid.uuid4().hex}", "guess", forwarded)] += 1

    real_statuses: collections.Counter[int] = collections.Counter()

    async def real_user() -> list[float]:
        samples = []
        while time.monotonic() < deadline:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                started = time.perf_counter()
                status = await sign_in(http, issuer, username, password, {"X-Forwarded-For": "203.0.113.10"})
                samples.append(time.perf_counter() - started)
                real_statuses[status] += 1
            await asyncio.sleep(0.5)
        return samples

    attackers = [asyncio.create_task(attacker(n)) for n in range(flood)]
    samples = await real_user()
    await asyncio.gather(*attackers)
    ordered = sorted(samples)
    print(f"flood={flood} from {sources} addresses: real sign-in n={len(ordered)} "
          f"p50 {statistics.median(ordered) * 1000:.0f} ms max {ordered[-1] * 1000:.0f} ms "
          f"answers {dict(sorted(real_statuses.items()))}; flood answers {dict(sorted(statuses.items()))}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--issuer", default="http://127.0.0.1:8080")
    parser.add_argument("--flood", type=int, default=12)
    parser.add_argument("--sources", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    asyncio.run(run(args.issuer, args.flood, args.sources, args.seconds))


if __name__ == "__main__":
    main()
