"""The fault campaign of issue 8: under a bounded load of mixed poll, ping and push flows, inject
one fault part-way, lift it, and prove nothing was lost.

Every scenario ends with the same invariants (tests/chaos/invariants.py): every request in
exactly one terminal state, every ping or push callback delivered at least once with one token
set per request, every started flow with its tokens, the outbox empty, the services back to
ready without a restart (a fresh canary flow of each mode completes), and no answer a relying
party must never see (a 5xx other than 503 with Retry-After, a non-JSON OAuth error, an answer
slower than 15 s). Each scenario's measurements are one JSON line in the session's measurements
file and a row of the table printed at the end.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.chaos.conftest import FLOWS, SPREAD_SEC, ChaosStack
from tests.chaos.flows import MODES, Load
from tests.chaos.invariants import (
    Check,
    database_checks,
    flow_checks,
    in_flight_answered,
    measure,
    readiness_checks,
    wait_settled,
)
from tests.support.stack import SERVICES

pytestmark = pytest.mark.chaos

FAULT_AT = 0.3  # of the spread: the fault starts once the load is well under way
SETTLE_SEC = 45.0  # how long stragglers get, after the last flow ended, to reach a terminal state
RESTART_PAUSE_SEC = 1.0  # between a kill and the restart, as an orchestrator would take
MOMENT_WAIT_SEC = 10.0  # how long a scenario waits for work in flight before it strikes anyway

Fault = Callable[[ChaosStack], Awaitable[dict[str, Any]]]
Moment = Callable[[Load], Callable[[], bool]]  # armed when called; the predicate says "strike now"


@dataclass(frozen=True)
class Scenario:
    inject: Fault
    moment: Moment | None = None  # strike when the victim has work in hand
    graceful: bool = False  # a graceful restart answers every request in flight


# -- faults ------------------------------------------------------------------------------

async def no_fault(_chaos: ChaosStack) -> dict[str, Any]:
    """The control: the same load and checks with nothing injected."""
    return {}


def cut(proxy: str, seconds: float) -> Fault:
    async def inject(chaos: ChaosStack) -> dict[str, Any]:
        target = getattr(chaos, proxy)
        with target.cut_off():
            await asyncio.sleep(seconds)
        return {"proxy": vars(target.counters)}
    return inject


def kill_and_restart(service: str) -> Fault:
    async def inject(chaos: ChaosStack) -> dict[str, Any]:
        await asyncio.to_thread(chaos.stack.kill, service)
        await asyncio.sleep(RESTART_PAUSE_SEC)
        return {"restart_to_ready_s": await restart(chaos, service)}
    return inject


async def stop_and_start_gateway(chaos: ChaosStack) -> dict[str, Any]:
    exit_code = await asyncio.to_thread(chaos.stack.stop, "gateway")
    return {"gateway_exit_code": exit_code, "restart_to_ready_s": await restart(chaos, "gateway")}


async def restart(chaos: ChaosStack, service: str) -> float:
    """Start ``service`` again and wait for the new process's service_ready; returns the seconds
    that took."""
    began = time.monotonic()
    await asyncio.to_thread(chaos.stack.start, service)
    chaos.pids[service] = chaos.stack.processes[service].pid
    return round(time.monotonic() - began, 2)


# -- moments worth striking --------------------------------------------------------------

def webhook_call_in_flight(load: Load) -> Callable[[], bool]:
    """The notifier is inside a webhook call (the receiver holds each one ENDPOINT_LATENCY)."""
    for user in load.users:  # only calls that start from now on
        load.webhook.started[user.username].clear()
    return lambda: any(load.webhook.started[user.username].is_set() for user in load.users)


def callback_in_flight(load: Load) -> Callable[[], bool]:
    """token-delivery is inside a call to a client notification endpoint."""
    keys = [key for _, key in load.clients.values() if key]
    return lambda: any(call.status is None for key in keys for call in load.callbacks.calls[key])


def long_polls_held(load: Load) -> Callable[[], bool]:
    return lambda: load.long_polls_held >= 4


async def strike_moment(load: Load, moment: Moment | None) -> bool | None:
    """Wait (bounded) for the moment; whether it came (None: any moment will do)."""
    if moment is None:
        return None
    now = moment(load)
    deadline = time.monotonic() + MOMENT_WAIT_SEC
    while not now():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


# -- one scenario ------------------------------------------------------------------------

async def run_scenario(name: str, scenario: Scenario, chaos: ChaosStack, webhook,
                       callbacks) -> tuple[dict[str, Any], list[Check]]:
    began = time.monotonic()
    load = Load(chaos.stack.issuer, webhook, callbacks, chaos.users, flows=FLOWS, spread=SPREAD_SEC)
    await load.setup()
    try:
        running = asyncio.create_task(load.run())
        await asyncio.sleep(SPREAD_SEC * FAULT_AT)
        work_in_flight = await strike_moment(load, scenario.moment)
        fault_at = load.observer.now()
        about_fault = await scenario.inject(chaos)
        lifted = load.observer.now()
        flows = await running
        state = await wait_settled(chaos.backing.database_url, load, SETTLE_SEC)
        canaries = await asyncio.gather(*(load.canary(mode) for mode in MODES))
        load.collect_callbacks()
        checks = [*database_checks(state), *flow_checks(load.flows, load.observer.failures),
                  *await readiness_checks(chaos.stack.issuer, chaos.pids, chaos.current_pids(), canaries)]
        if scenario.graceful:
            checks.append(in_flight_answered(load.observer.in_flight(fault_at)))
        row = measure(name, load.observer, flows, fault_at, lifted, checks)
        row.update(about_fault, struck_with_work_in_flight=work_in_flight, orphans=load.orphans_denied,
                   database=state.statuses, duration_s=round(time.monotonic() - began, 1))
        return row, checks
    finally:
        await load.close()


SCENARIOS = {
    "control (no fault)": Scenario(no_fault),
    "rabbitmq cut 5 s": Scenario(cut("rabbitmq", 5)),
    "rabbitmq cut 30 s": Scenario(cut("rabbitmq", 30)),
    "postgres cut 5 s": Scenario(cut("postgres", 5), callback_in_flight),
    "gateway SIGKILL + restart": Scenario(kill_and_restart("gateway")),
    "request-processor SIGKILL + restart": Scenario(kill_and_restart("request-processor")),
    "notifier SIGKILL + restart": Scenario(kill_and_restart("notifier"), webhook_call_in_flight),
    "token-delivery SIGKILL + restart": Scenario(kill_and_restart("token-delivery"), callback_in_flight),
    "gateway restart holding long polls": Scenario(stop_and_start_gateway, long_polls_held, graceful=True),
}
assert {f"{service} SIGKILL + restart" for service in SERVICES} <= set(SCENARIOS)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_nothing_is_lost(name: str, chaos: ChaosStack, webhook, callbacks, record_measurement) -> None:
    row, checks = await run_scenario(name, SCENARIOS[name], chaos, webhook, callbacks)
    record_measurement(row)
    print(f"\n{name}:\n" + "\n".join(f"  {c}" for c in checks))
    broken = [c for c in checks if not c.ok]
    assert not broken, f"{name}: {len(broken)} invariants broken:\n" + "\n".join(str(c) for c in broken)
