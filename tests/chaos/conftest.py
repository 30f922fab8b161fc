"""The chaos fixtures: for each scenario, a stack of its own (own database and bus namespace)
whose four services reach Postgres and RabbitMQ only through two fault proxies, so a test can
cut or slow either at will. ciba-admin and the invariant checks go straight to the database.

Size the load with CIBA_CHAOS_FLOWS (default 300) and CIBA_CHAOS_SPREAD_SEC (default 30).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import Account, make_user, webhook_notification
from tests.support.backing import Backing, fresh_backing
from tests.support.fault_proxy import FaultProxy
from tests.support.stack import SERVICES, Stack
from tests.support.tls import TestPKI
from tests.support.webhook import WebhookReceiver

USERS = 16
FLOWS = int(os.environ.get("CIBA_CHAOS_FLOWS", "300"))
SPREAD_SEC = float(os.environ.get("CIBA_CHAOS_SPREAD_SEC", "30"))

# Cheap password hashes: a few hundred device-page sign-ins must not saturate two cores.
CHAOS_ENV = {"CIBA_ENV": "development", "CIBA_ARGON2_MEMORY_KIB": "8192", "CIBA_ARGON2_TIME_COST": "1",
             "CIBA_ARGON2_PARALLELISM": "1"}

MEASUREMENTS: list[dict[str, Any]] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: fault-injection campaign against the four services")


@dataclass
class ChaosStack:
    stack: Stack
    backing: Backing
    postgres: FaultProxy
    rabbitmq: FaultProxy
    users: list[Account]
    pids: dict[str, int]  # as started: a service with another pid was restarted

    def current_pids(self) -> dict[str, int | None]:
        return {name: (p.pid if p.poll() is None else None) for name, p in self.stack.processes.items()}


def _proxy_to(url: str) -> FaultProxy:
    parts = urlsplit(url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 0).start()


@pytest.fixture(scope="session")
def measurements_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chaos") / "measurements.jsonl"


def _configure(stack: Stack, webhook: WebhookReceiver) -> None:
    stack.admin("config", "set", "cibaEndUserNotificationConfig", json.dumps(webhook_notification(webhook)))
    stack.admin("config", "set", "backchannelRequestsProcessorJobIntervalSec", "0.2")


@pytest.fixture
def chaos_backing(server_urls) -> Iterator[Backing]:
    with fresh_backing(server_urls, "chaos") as backing:
        yield backing


@pytest.fixture
async def chaos(chaos_backing: Backing, webhook: WebhookReceiver, pki: TestPKI,
                tmp_path: Path) -> AsyncIterator[ChaosStack]:
    """Started and stopped off the event loop, so the webhook receiver and the callback
    endpoint (served by this loop) keep answering the services meanwhile."""
    postgres, rabbitmq = _proxy_to(chaos_backing.database_url), _proxy_to(chaos_backing.amqp_url)
    stack = Stack(postgres.rewrite(chaos_backing.database_url), rabbitmq.rewrite(chaos_backing.amqp_url),
                  chaos_backing.namespace, tmp_path, admin_database_url=chaos_backing.database_url,
                  extra_env={**CHAOS_ENV, "CIBA_OUTBOUND_CA_BUNDLE": str(pki.ca_file)})
    try:
        await asyncio.to_thread(_configure, stack, webhook)
        users = await asyncio.gather(*(asyncio.to_thread(make_user, stack) for _ in range(USERS)))
        await asyncio.to_thread(stack.start_all)
        pids = {name: stack.processes[name].pid for name in SERVICES}
        yield ChaosStack(stack, chaos_backing, postgres, rabbitmq, list(users), pids)
    finally:
        await asyncio.to_thread(_stop_all, stack)
        postgres.stop()
        rabbitmq.stop()
        print(f"\nchaos stack logs in {tmp_path}")


def _stop_all(stack: Stack) -> None:
    for name in list(stack.processes):
        try:
            stack.stop(name, timeout=20)
        except Exception as exc:  # a hung service is killed; the scenario already reported
            print(f"{name} did not stop cleanly: {exc!r}")


@pytest.fixture(scope="session")
def record_measurement(measurements_file: Path) -> Iterator[Any]:
    def record(row: dict[str, Any]) -> None:
        MEASUREMENTS.append({**row, "file": str(measurements_file)})
        with measurements_file.open("a") as out:
            out.write(json.dumps(row) + "\n")
    yield record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASUREMENTS:
        return
    columns = ("scenario", "flows", "started", "completed", "lost", "duplicated", "repeated_callbacks",
               "orphans", "recover_s", "drain_s", "failed_checks", "duration_s")
    terminalreporter.section("chaos campaign")
    terminalreporter.write_line(f"measurements (one JSON line per scenario): {MEASUREMENTS[0]['file']}")
    terminalreporter.write_line(" | ".join(columns))
    terminalreporter.write_line(" | ".join("---" for _ in columns))
    for row in MEASUREMENTS:
        terminalreporter.write_line(" | ".join(_cell(row.get(c)) for c in columns))
    terminalreporter.write_line("")
    for row in MEASUREMENTS:
        seen = json.dumps(row["during_fault"])
        terminalreporter.write_line(f"{row['scenario']}: during the fault clients saw {seen}")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list):
        return ", ".join(value) or "-"
    return "-" if value is None else str(value)
