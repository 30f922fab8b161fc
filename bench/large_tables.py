"""Do polls and /bc-authorize stay as fast when the tables hold a production's history?

    make up && .venv/bin/python -m bench.large_tables [--finished 1000000] [--pending 100000]

Measures /token polls and /bc-authorize (the reference harness, as `make bench` does) on the
running stack, then fills its database with FINISHED finished requests (tokens issued,
denied, expired; with their history rows) and PENDING pending ones (each with a history row),
all of a filler client, and measures again. The filler is deleted at the end. The pending
filler is claimed by a notifier, as a real pending request is once its user was reached,
and expires in a day, so the request-processor's recovery and sweep leave it be.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

import asyncpg

from bench.run import harness_dir, prepare, run_mode, wait_for_quiet_queues

FILLER = "bench-filler"
ROOT = Path(__file__).resolve().parent.parent


async def fill(dsn: str, finished: int, pending: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """INSERT INTO clients (client_id, token_endpoint_auth_method, grant_types, scope,
                                    backchannel_token_delivery_mode, metadata)
               VALUES ($1, 'client_secret_basic', '{urn:openid:params:grant-type:ciba}', '{openid}', 'poll', '{}')
               ON CONFLICT DO NOTHING""", FILLER)
        await conn.execute(
            "INSERT INTO users (sub, username, password_hash) VALUES ($1, $1, 'x') ON CONFLICT DO NOTHING", FILLER)
        started = time.monotonic()
        for offset in range(0, finished + pending, 100_000):
            await conn.execute(
                """WITH made AS (
                       INSERT INTO auth_requests (id, auth_req_id_hash, auth_req_id_enc, client_id, sub, delivery_mode,
                                                  scope, status, interval_sec, created_at, expires_at, decided_at,
                                                  reannounced, notify_claimed_at)
                       SELECT gen_random_uuid(), sha256(('filler' || n)::bytea), 'filler', $1, $1, 'poll', '{openid}',
                              CASE WHEN n > $3 THEN 'pending'
                                   ELSE (ARRAY['tokens_issued', 'denied', 'expired'])[n % 3 + 1] END,
                              5, now() - make_interval(mins => (n % 50000)::int),
                              CASE WHEN n > $3 THEN now() + interval '1 day'
                                   ELSE now() - make_interval(mins => (n % 50000)::int) + interval '10 minutes' END,
                              CASE WHEN n > $3 THEN NULL ELSE now() - make_interval(mins => (n % 50000)::int) END,
                              3, now() - make_interval(mins => (n % 50000)::int)
                         FROM generate_series($2::bigint + 1, least($2::bigint + 100000, $3::bigint + $4)) n
                       RETURNING id, status, created_at)
                   INSERT INTO auth_request_history (auth_request_id, status, at, service)
                   SELECT id, status, created_at, 'bench' FROM made""",
                FILLER, offset, finished, pending)
        await conn.execute("ANALYZE auth_requests; ANALYZE auth_request_history")
        print(f"filled {finished:,} finished and {pending:,} pending requests in {time.monotonic() - started:.0f} s")
    finally:
        await conn.close()


async def empty(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM auth_requests WHERE client_id = $1", FILLER)  # history cascades
        await conn.execute("DELETE FROM users WHERE sub = $1", FILLER)
        await conn.execute("DELETE FROM clients WHERE client_id = $1", FILLER)
        await conn.execute("VACUUM ANALYZE auth_requests")
        await conn.execute("VACUUM ANALYZE auth_request_history")
    finally:
        await conn.close()


def measure(harness: Path, label: str, out_dir: Path, repeat: int) -> dict[str, float]:
    out = out_dir / f"{label}.jsonl"
    figures = {}
    for mode in ("token-poll", "bc-authorize"):
        wait_for_quiet_queues()
        run_mode(harness, mode, repeat, out)
    for line in out.read_text().splitlines():
        record = json.loads(line)
        figures[record["mode"]] = statistics.median(run["rps"] for run in record["runs"])
        figures[record["mode"] + " p99"] = statistics.median(run["latency"]["p99_ms"] for run in record["runs"])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    dsn = os.environ.get("CIBA_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/ciba")
    harness = harness_dir()
    prepare(harness)
    out_dir = ROOT / "bench" / "results" / time.strftime("large-tables-%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    empty_db = measure(harness, "empty", out_dir, args.repeat)
    asyncio.run(fill(dsn, args.finished, args.pending))
    try:
        large = measure(harness, "large", out_dir, args.repeat)
    finally:
        asyncio.run(empty(dsn))
    for name, before in empty_db.items():
        after = large[name]
        print(f"{name:18s} empty {before:9.1f}  large {after:9.1f}  ({100 * (after - before) / before:+.1f} %)")
    print(f"runs in {out_dir}")


if __name__ == "__main__":
    main()
