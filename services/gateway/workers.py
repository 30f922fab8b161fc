"""CIBA_HTTP_WORKERS: several gateway processes sharing one port (SO_REUSEPORT).

A Python process serves HTTP on one core at most. With ``CIBA_HTTP_WORKERS=N`` the gateway
forks N workers before anything else starts (no thread, loop or connection exists yet, so the
fork copies nothing that is shared). Each worker is a whole gateway with its own pools, caches
and held long polls, listening on the same address with SO_REUSEPORT, and the kernel spreads
new connections over them. Everything that must agree between workers is in Postgres already,
as it is between gateway replicas; what is per worker is what is per replica: the per-client
rate-limit buckets, the password-check threads and queue, CIBA_LONG_POLL_MAX_HELD.

The parent only supervises. It passes SIGTERM and SIGINT on and exits when every worker has.
When a worker ends on its own, it stops the others and exits non-zero, so the orchestrator
restarts the whole gateway instead of leaving it running on fewer workers than configured.
"""

from __future__ import annotations

import os
import signal
import sys
import traceback
from collections.abc import Callable
from types import FrameType

from shared.logging import get_logger

log = get_logger("ciba.gateway.workers")

FORWARDED = (signal.SIGTERM, signal.SIGINT)


def serve(workers: int, run_worker: Callable[[], None]) -> int:
    """Fork ``workers`` processes running ``run_worker``; returns the gateway's exit status."""
    children: set[int] = set()
    stopping = False

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            _signal(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    for _ in range(workers):
        if stopping:
            break
        pid = os.fork()
        if pid == 0:
            os._exit(_worker(run_worker))
        children.add(pid)
    log.info("gateway_workers_started", workers=sorted(children))

    status = 0
    while children:
        pid, wait_status = os.wait()
        children.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        if not stopping:
            log.error("gateway_worker_exited", pid=pid, exit_code=code, stopping=sorted(children))
            stopping = True
            status = code if code > 0 else 1
            for other in children:
                _signal(other, signal.SIGTERM)
        elif code != 0 and status == 0:
            status = code if code > 0 else 1
    return status


def _worker(run_worker: Callable[[], None]) -> int:
    for signum in FORWARDED:
        signal.signal(signum, signal.SIG_DFL)
    try:
        run_worker()
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - a worker reports whatever ended it, then exits
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return 0


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass
