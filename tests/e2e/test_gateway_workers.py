"""CIBA_HTTP_WORKERS: one gateway, several processes on one port, stopped and failed as one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import Account
from tests.support.backing import Backing
from tests.support.rp import RelyingParty
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e


def _workers(parent: int) -> set[int]:
    children = Path(f"/proc/{parent}/task/{parent}/children")
    return {int(pid) for pid in children.read_text().split()} if children.exists() else set()


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.fixture
def gateway(e2e_backing: Backing, tmp_path: Path) -> Iterator[Stack]:
    """A gateway of two workers on a port of its own, beside the suite's stack."""
    workers = Stack(e2e_backing.database_url, e2e_backing.amqp_url, e2e_backing.namespace, tmp_path,
                    extra_env={"CIBA_HTTP_WORKERS": "2"})
    workers.start("gateway", wait=False)
    deadline = time.monotonic() + 30
    while sum(line.get("event") == "service_ready" for line in workers.log_lines("gateway")) < 2:
        assert workers.processes["gateway"].poll() is None, workers.logs("gateway")
        assert time.monotonic() < deadline, workers.logs("gateway")
        time.sleep(0.05)
    yield workers
    if workers.processes:
        workers.stop_all()


async def test_two_workers_answer_on_one_port_and_stop_together(gateway: Stack, stack: Stack,
                                                                  user: Account) -> None:
    parent = gateway.processes["gateway"].pid
    workers = _workers(parent)
    assert len(workers) == 2

    rp = RelyingParty(gateway.issuer)
    try:
        client = await rp.register()
        started = await asyncio.gather(*(rp.bc_authorize(client, login_hint=user.username) for _ in range(20)))
        assert [answer.status for answer in started] == [200] * 20
        polls = await asyncio.gather(*(rp.token(client, answer.body["auth_req_id"]) for answer in started))
        assert {answer.body["error"] for answer in polls} == {"authorization_pending"}
    finally:
        await rp.close()

    assert gateway.stop("gateway") == 0
    assert not any(_alive(pid) for pid in workers)


async def test_a_worker_that_dies_takes_the_gateway_down_with_a_failure_status(gateway: Stack) -> None:
    parent = gateway.processes["gateway"].pid
    first, second = sorted(_workers(parent))

    os.kill(first, signal.SIGKILL)

    process = gateway.processes.pop("gateway")
    assert process.wait(timeout=30) != 0
    assert not _alive(second)
    exited = [line for line in gateway.log_lines("gateway") if line.get("event") == "gateway_worker_exited"]
    assert [line["pid"] for line in exited] == [first]
