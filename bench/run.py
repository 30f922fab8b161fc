"""`make bench`: the performance figures of the README, measured against a running stack.

    CIBA_ENGINE=local make up && make bench            # or: .venv/bin/python bench/run.py [--quick] [--only NAME ...]

It starts nothing: it drives the stack that `make up` started (issuer CIBA_ISSUER, default
http://127.0.0.1:8080) with the reference load harness (BENCH_HARNESS, default
../shared/bench: loadgen.py, its profile and setup.sh), prepares that stack for it once
(the webhook notifier pointing at the harness, 100 users bench-user-N), then runs:

  bc-authorize   /bc-authorize, 16 concurrent clients, 10 s, notifications by webhook
  front-end      the same with the notifier paused (SIGSTOP, then SIGCONT): the gateway and
                 the relay alone; the notifications wait in their queue and go out after
  token-poll     /token polls, 16 concurrent clients, 100 pending requests
  e2e-ping       200 flows one at a time: approve on the device pages -> ping -> /token
  e2e-longpoll   200 flows one at a time: a held /token answered by the approval
  expiry-sweep   100,000 requests falling due at once (bench/expiry_sweep.py, its own
                 scratch database on the same Postgres)

Each harness mode runs three times (--quick: once); the table shows medians. Every run is
appended as a JSON line to bench/results/<time>/results.jsonl, with the harness's
summary (bench/results/<time>/summary.md). bench/README.md explains each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

MODES = {
    "bc-authorize": ["bc-authorize", "-c", "16", "-d", "10"],
    "front-end": ["bc-authorize", "-c", "16", "-d", "10"],
    "token-poll": ["token-poll", "-c", "16", "-d", "10", "-k", "100"],
    "e2e-ping": ["e2e-ping", "-m", "200", "-c", "1"],
    "e2e-longpoll": ["e2e-longpoll", "-m", "200", "-c", "1"],
}


def harness_dir() -> Path:
    found = Path(os.environ.get("BENCH_HARNESS", ROOT.parent / "shared" / "bench")).resolve()
    if not (found / "loadgen.py").exists():
        sys.exit(f"bench: no load harness at {found} (set BENCH_HARNESS to the folder holding loadgen.py)")
    return found


def check_stack(issuer: str) -> None:
    try:
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=5):  # noqa: S310
            pass
    except OSError as exc:
        sys.exit(f"bench: no CIBA server answers at {issuer} ({exc}); start it with `make up`")


def prepare(harness: Path) -> None:
    """The harness's setup.sh: the webhook notifier and the bench users (idempotent)."""
    env = {**os.environ, "PRODUCT_DIR": str(ROOT), "CIBA_ENV": os.environ.get("CIBA_ENV", "development")}
    subprocess.run([str(harness / "setup.sh")], env=env, check=True, stdout=subprocess.DEVNULL)


def run_mode(harness: Path, name: str, repeat: int, out: Path) -> None:
    print(f"bench: {name} ({repeat} run{'s' if repeat > 1 else ''})", flush=True)
    if name != "front-end":
        _loadgen(harness, name, repeat, out)
        return
    # One run per pause, so the paused notifier never misses its broker heartbeats for long.
    for _ in range(repeat):
        wait_for_quiet_queues()
        with paused("ciba-notifier"):
            _loadgen(harness, name, 1, out)


def _loadgen(harness: Path, name: str, repeat: int, out: Path) -> None:
    scratch = out.with_suffix(".run")
    args = [PYTHON, "loadgen.py", *MODES[name], "--profile", "profile.json", "--repeat", str(repeat),
            "--settle", "10", "--json-out", str(scratch)]
    subprocess.run(args, cwd=harness, check=True, stdout=subprocess.DEVNULL)
    with out.open("a") as results:
        for raw in scratch.read_text().splitlines():
            if raw.strip():
                results.write(json.dumps({**json.loads(raw), "figure": name}) + "\n")
    scratch.unlink()


@contextmanager
def paused(script: str) -> Iterator[None]:
    """SIGSTOP every process running ``script`` (its console script), SIGCONT after."""
    pids = [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()
            and _runs(int(entry.name), script)]
    if not pids:
        sys.exit(f"bench: no {script} process to pause for the front-end figure")
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def _runs(pid: int, script: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return "ciba-wrapper" not in str(argv) and any(arg.decode(errors="replace").endswith(f"/{script}")
                                                   for arg in argv[:2])


def run_sweep(out: Path) -> None:
    print("bench: expiry-sweep", flush=True)
    result = subprocess.run([PYTHON, str(ROOT / "bench" / "expiry_sweep.py"), "--requests", "100000"],
                            check=True, capture_output=True, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = result.stdout.strip().splitlines()[-1]
    rate = float(line.split(": ")[1].split()[0].replace(",", ""))
    with out.open("a") as results:
        results.write(json.dumps({"mode": "expiry-sweep", "requests_per_s": rate, "line": line}) + "\n")


def median(runs: list[dict], *path: str) -> float | None:
    values = []
    for run in runs:
        value: object = run
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, int | float):
            values.append(float(value))
    return statistics.median(values) if values else None


def table(out: Path) -> str:
    """The README's table: one line a figure, medians of the runs."""
    lines = ["| figure | value |", "|---|---|"]
    figures: dict[str, dict] = {}
    for raw in out.read_text().splitlines():
        if raw.strip():
            record = json.loads(raw)
            name = record.get("figure", record["mode"])
            if name in figures:  # the front end's runs come one record each
                figures[name]["runs"] += record.get("runs", [])
            else:
                figures[name] = {**record, "runs": list(record.get("runs", []))}
    for mode, record in figures.items():
        runs = record["runs"]
        if mode == "bc-authorize":
            delivered = median([{"per_s": r["webhook"]["received"] / r["duration_s"]}
                                for r in runs if r.get("webhook")], "per_s")
            lines.append(f"| /bc-authorize c=16, webhook notifications | {median(runs, 'rps'):,.0f} req/s, "
                         f"p50 {median(runs, 'latency', 'p50_ms'):.1f} / p99 {median(runs, 'latency', 'p99_ms'):.1f} ms"
                         f" ({delivered or 0:,.0f} notifications/s delivered during the run) |")
        elif mode == "front-end":
            lines.append(f"| /bc-authorize c=16, notifier paused (front end + relay) | {median(runs, 'rps'):,.0f} "
                         f"req/s, p50 {median(runs, 'latency', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'latency', 'p99_ms'):.1f} ms |")
        elif mode == "token-poll":
            lines.append(f"| /token polls c=16, 100 pending | {median(runs, 'rps'):,.0f} req/s, "
                         f"p50 {median(runs, 'latency', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'latency', 'p99_ms'):.1f} ms |")
        elif mode == "e2e-ping":
            lines.append(f"| approve -> ping callback | p50 {median(runs, 'approve_to_callback', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'approve_to_callback', 'p99_ms'):.1f} ms |")
            lines.append(f"| approve -> tokens, ping mode | p50 {median(runs, 'approve_to_token_ok', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'approve_to_token_ok', 'p99_ms'):.1f} ms |")
            lines.append(f"| consent POST round trip | p50 {median(runs, 'approve_call', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'approve_call', 'p99_ms'):.1f} ms |")
        elif mode == "e2e-longpoll":
            lines.append(f"| approve -> tokens, long poll | p50 {median(runs, 'approve_to_token_ok', 'p50_ms'):.1f} / "
                         f"p99 {median(runs, 'approve_to_token_ok', 'p99_ms'):.1f} ms |")
        elif mode == "expiry-sweep":
            lines.append(f"| expiry sweep, 100,000 due at once | {record['requests_per_s']:,.0f} requests/s |")
        if mode in MODES and runs:
            lines.append(f"| ... during {mode}: CPU (100 % = a core), RSS | services "
                         f"{median(runs, 'server_cpu_pct'):.0f} % ({_breakdown(runs)}), Postgres + RabbitMQ "
                         f"{median(runs, 'infra_cpu_pct'):.0f} %; RSS {_rss(record.get('ps', ''))} |")
    return "\n".join(lines)


def _breakdown(runs: list[dict]) -> str:
    names = sorted({name for run in runs for name in run.get("server_cpu_breakdown", {})})
    return ", ".join(f"{name.removeprefix('ciba-')} {median(runs, 'server_cpu_breakdown', name) or 0:.0f}"
                     for name in names)


def _rss(ps: str) -> str:
    """Each service's RSS from the harness's closing `ps` snapshot (RSS is in KiB)."""
    found = []
    for line in ps.splitlines()[1:]:
        fields = line.split(None, 5)
        if len(fields) == 6 and "/ciba-" in fields[5] and "ciba-wrapper" not in fields[5]:
            found.append(f"{fields[5].rsplit('ciba-', 1)[1].split()[0]} {int(fields[2]) / 1024:.0f} MB")
    return ", ".join(found) or "-"


async def _queued(namespace: str) -> int:
    """Messages waiting in the consumers' queues (work, and retries due later)."""
    import aio_pika

    from shared.bus.topology import CONSUMERS, ServiceQueues

    connection = await aio_pika.connect(os.environ.get("CIBA_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    try:
        channel = await connection.channel()
        total = 0
        for service in CONSUMERS:
            queues = ServiceQueues(namespace, service)
            for name in (queues.main, *(queues.retry(tier) for tier in (1, 2, 4, 8, 16, 32, 60))):
                queue = await channel.declare_queue(name, passive=True)
                total += queue.declaration_result.message_count or 0
        return total
    finally:
        await connection.close()


def wait_for_quiet_queues(timeout: float = 180.0) -> None:
    """Until the previous mode's notifications and callbacks (and their retries) are done,
    so one figure's backlog never spills into the next."""
    import asyncio

    namespace = os.environ.get("CIBA_BUS_NAMESPACE", "ciba")
    deadline = time.monotonic() + timeout
    while (waiting := asyncio.run(_queued(namespace))) and time.monotonic() < deadline:
        print(f"bench: waiting for {waiting} queued messages", flush=True)
        time.sleep(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one run a mode instead of three")
    parser.add_argument("--only", nargs="*", choices=[*MODES, "expiry-sweep"], help="just these figures")
    args = parser.parse_args()
    issuer = os.environ.get("CIBA_ISSUER", "http://127.0.0.1:8080")
    harness = harness_dir()
    check_stack(issuer)
    prepare(harness)
    out_dir = ROOT / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out_dir.mkdir(parents=True)
    out = out_dir / "results.jsonl"
    for name in args.only or [*MODES, "expiry-sweep"]:
        wait_for_quiet_queues()
        if name == "expiry-sweep":
            run_sweep(out)
        else:
            run_mode(harness, name, 1 if args.quick else 3, out)
    summary = subprocess.run([PYTHON, "summarize.py", str(out_dir)], cwd=harness, capture_output=True, text=True)
    (out_dir / "summary.md").write_text(summary.stdout)
    print(table(out))
    print(f"\nbench: every run in {out}; the harness's full tables in {out_dir / 'summary.md'}")


if __name__ == "__main__":
    main()
