"""Side tasks are supervised: one that dies fails readiness at once, and the process stops
after CIBA_SIDE_TASK_EXIT_GRACE_SEC with the reason (run_service then exits with status 1)."""

from __future__ import annotations

import asyncio

import pytest

from shared import runtime
from shared.runtime import Runtime


async def test_a_dead_side_task_fails_readiness_at_once_then_stops_the_process(settings) -> None:
    quick = settings.model_copy(update={"side_task_exit_grace_sec": 0.5, "management_port": 0})
    seen: dict = {}

    async def body(rt: Runtime, stop: asyncio.Event) -> None:
        async def listener_that_breaks() -> None:
            raise ConnectionResetError("connection reset by peer")

        assert (await rt.readiness.report())["side_tasks"] == "ok"
        rt.start_side_task(listener_that_breaks(), "pg-listener")
        await asyncio.sleep(0.05)
        seen["ready"] = await rt.readiness.report()
        seen["stopping_at_once"] = stop.is_set()
        await stop.wait()

    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(RuntimeError, match=r"^side task pg-listener died: ConnectionResetError"):
        await asyncio.wait_for(runtime._run(quick, "request-processor", body), 10)

    assert seen["ready"]["side_tasks"].startswith("side task pg-listener died")
    assert seen["stopping_at_once"] is False
    assert loop.time() - started >= 0.5


async def test_side_tasks_that_end_because_the_process_stops_are_not_failures(settings) -> None:
    async def body(rt: Runtime, stop: asyncio.Event) -> None:
        rt.start_side_task(stop.wait(), "loop")
        stop.set()
        await asyncio.sleep(0.05)
        assert rt.failure is None

    await asyncio.wait_for(runtime._run(settings.model_copy(update={"management_port": 0}), "gateway", body), 10)
