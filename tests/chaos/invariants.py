"""What must hold after every chaos scenario, each as a named check with the evidence when it
does not. The database is read directly (not through the fault proxy): it is the source of
truth the services share."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from tests.chaos.flows import Flow, Load
from tests.chaos.rp_http import Observer

TERMINAL = ("tokens_issued", "denied", "expired", "failed")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.name}: ok" if self.ok else f"{self.name}: BROKEN - {self.detail}"


@dataclass(frozen=True)
class DatabaseState:
    unsettled: list[dict[str, Any]]  # not terminal, or a ping/push callback not yet settled
    statuses: dict[str, int]
    several_terminal: list[dict[str, Any]]  # terminal, but not by exactly one terminal transition
    outbox: int
    extra_access_tokens: int  # requests with more than one access token minted

    @property
    def settled(self) -> bool:
        return not self.unsettled and self.outbox == 0


async def read_state(dsn: str) -> DatabaseState:
    conn = await asyncpg.connect(dsn)
    try:
        statuses = dict(await conn.fetch("SELECT status, count(*) FROM auth_requests GROUP BY status"))
        unsettled = await conn.fetch(
            """SELECT binding_message, delivery_mode, status, delivery_state, failure_reason
                 FROM auth_requests
                WHERE status <> ALL($1::text[])
                   OR (delivery_mode <> 'poll' AND delivery_state IS NULL)
                ORDER BY created_at""", list(TERMINAL))
        several = await conn.fetch(
            """SELECT r.binding_message, array_agg(h.status ORDER BY h.id) AS history
                 FROM auth_requests r JOIN auth_request_history h ON h.auth_request_id = r.id
                WHERE r.status = ANY($1::text[])
                GROUP BY r.id, r.binding_message
               HAVING count(*) FILTER (WHERE h.status = ANY($1::text[])) <> 1""", list(TERMINAL))
        outbox = await conn.fetchval("SELECT count(*) FROM outbox")
        extra = await conn.fetchval(
            "SELECT count(*) FROM (SELECT grant_id FROM tokens WHERE kind = 'access'"
            " GROUP BY grant_id HAVING count(*) > 1) g")
    finally:
        await conn.close()
    return DatabaseState([dict(r) for r in unsettled], statuses, [dict(r) for r in several], outbox, extra)


async def wait_settled(dsn: str, load: Load, timeout: float) -> DatabaseState:
    """Until every request is terminal, every callback settled and the outbox empty, or
    ``timeout``; requests only an unanswered /bc-authorize created are denied on the way."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await load.deny_orphans()
        state = await read_state(dsn)
        if state.settled or asyncio.get_running_loop().time() > deadline:
            return state
        await asyncio.sleep(0.5)


def _examples(rows: list[Any], limit: int = 5) -> str:
    return "; ".join(str(row) for row in rows[:limit]) + (f"; ... {len(rows) - limit} more" if len(rows) > limit
                                                          else "")


def database_checks(state: DatabaseState) -> list[Check]:
    not_terminal = [r for r in state.unsettled if r["status"] not in TERMINAL]
    unsettled_callbacks = [r for r in state.unsettled if r["status"] in TERMINAL]
    return [
        Check("every_request_terminal", not not_terminal,
              f"{len(not_terminal)} not terminal (statuses {state.statuses}): {_examples(not_terminal)}"),
        Check("exactly_one_terminal_transition", not state.several_terminal,
              f"{len(state.several_terminal)} requests: {_examples(state.several_terminal)}"),
        Check("callbacks_settled_in_database", not unsettled_callbacks,
              f"{len(unsettled_callbacks)} ping/push requests with no delivery outcome: "
              f"{_examples(unsettled_callbacks)}"),
        Check("outbox_empty", state.outbox == 0, f"{state.outbox} events left in the outbox"),
        Check("one_token_set_per_request_in_database", state.extra_access_tokens == 0,
              f"{state.extra_access_tokens} requests with more than one access token minted"),
    ]


def flow_checks(flows: list[Flow], failures: list[str]) -> list[Check]:
    started = [f for f in flows if f.started]
    uncalled = [f for f in started if f.mode != "poll" and not (f.pings or f.pushed)]
    twice = [f for f in started if len({p.get("access_token") for p in f.pushed if "access_token" in p}) > 1
             or len(f.token_sets) > 1]
    lost = [f for f in started if f.outcome != "tokens"]
    return [
        Check("callback_delivered_at_least_once", not uncalled,
              f"{len(uncalled)} ping/push flows never called back: {_flow_examples(uncalled)}"),
        Check("one_token_set_per_flow", not twice, f"{len(twice)} flows got two token sets: {_flow_examples(twice)}"),
        Check("no_flow_lost", not lost,
              f"{len(lost)} of {len(started)} started flows ended without tokens "
              f"({dict(Counter(f.outcome for f in lost))}): {_flow_examples(lost)}"),
        Check("clients_saw_only_sanctioned_answers", not failures,
              f"{len(failures)} answers a relying party must never see: {_examples(failures, 8)}"),
    ]


def _flow_examples(flows: list[Flow], limit: int = 4) -> str:
    return _examples([f"#{f.index} {f.mode} {f.outcome} ({f.detail})" for f in flows], limit)


async def readiness_checks(issuer: str, expected: dict[str, int], current: dict[str, int | None],
                           canaries: list[Flow]) -> list[Check]:
    changed = {name: (pid, current.get(name)) for name, pid in expected.items() if current.get(name) != pid}
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{issuer}/health/ready",
                                                             timeout=aiohttp.ClientTimeout(total=5)) as response:
            ready = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        ready = repr(exc)
    failed = [f for f in canaries if f.outcome != "tokens"]
    return [
        Check("services_alive_without_restart", not changed, f"(expected pid, now) {changed}"),
        Check("gateway_ready", ready == 200, f"/health/ready answered {ready}"),
        Check("canary_flows_complete", not failed, f"after recovery: {_flow_examples(failed)}"),
    ]


def in_flight_answered(in_flight: dict[str, dict[str, int]]) -> Check:
    """A gracefully stopped gateway answers what it holds (long polls re-read their request)."""
    cut_off = {endpoint: n for endpoint, outcomes in in_flight.items()
               if (n := outcomes.get("conn_error", 0) + outcomes.get("timeout", 0))}
    return Check("requests_in_flight_answered_on_sigterm", bool(in_flight) and not cut_off,
                 f"in flight at SIGTERM (nothing means nothing was tested): {in_flight}; cut off: {cut_off}")


def measure(name: str, observer: Observer, flows: list[Flow], fault_at: float, lifted: float,
            checks: list[Check]) -> dict[str, Any]:
    """The scenario's numbers. recover_s: from the fault lifted to the first flow started before
    it completing after it; drain_s: to the last such flow."""
    started = [f for f in flows if f.started]
    done = [f for f in started if f.completed_at is not None]
    backlog = [f.completed_at for f in done if f.started_at <= lifted <= (f.completed_at or 0.0)]
    duplicated = sum(1 for f in started if len({p.get("access_token") for p in f.pushed} - {None}) > 1
                     or len(f.token_sets) > 1)
    return {
        "scenario": name, "flows": len(flows), "started": len(started), "completed": len(done),
        "not_started": len(flows) - len(started), "lost": len(started) - len(done), "duplicated": duplicated,
        "repeated_callbacks": sum(max(0, f.pings - 1) + max(0, len(f.pushed) - 1) for f in started),
        "flow_p50_s": _percentile(done, 0.5), "flow_max_s": _percentile(done, 1.0),
        "fault_at_s": round(fault_at, 1), "lifted_at_s": round(lifted, 1),
        "recover_s": round(min(backlog) - lifted, 1) if backlog else None,
        "drain_s": round(max(backlog) - lifted, 1) if backlog else None,
        "during_fault": observer.counts(fault_at, lifted),
        "in_flight_at_fault": observer.in_flight(fault_at),
        "all_answers": observer.counts(),
        "slowest_flows": [_timeline(f) for f in sorted(started, key=_took, reverse=True)[:5]],
        "client_failures": observer.failures[:20],
        "failed_checks": [c.name for c in checks if not c.ok],
    }


def _took(flow: Flow) -> float:
    return (flow.completed_at or float("inf")) - flow.started_at


def _timeline(flow: Flow) -> str:
    marks = {"started": flow.started_at, **flow.marks, flow.outcome: flow.completed_at}
    steps = " ".join(f"{name}@{at:.1f}" for name, at in marks.items() if at is not None)
    return f"#{flow.index} {flow.mode}{' (long polls)' if flow.long_poll else ''}: {steps}"


def _percentile(flows: list[Flow], q: float) -> float | None:
    took = sorted((f.completed_at or 0.0) - f.started_at for f in flows)
    return round(took[min(len(took) - 1, int(q * len(took)))], 1) if took else None
