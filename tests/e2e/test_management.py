"""Every service's management listener: /health/live, /health/ready and /metrics on a port of
its own, and readiness that follows the Postgres and RabbitMQ connections.

The services of this module reach Postgres and RabbitMQ through fault proxies, so a test can
cut either and watch each service's readiness turn 503, naming the failing check, and come
back once the connection is restored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.support.backing import fresh_backing
from tests.support.fault_proxy import FaultProxy
from tests.support.stack import SERVICES, Stack

pytestmark = pytest.mark.e2e

CHECKS = {
    "gateway": {"postgres", "listener", "side_tasks"},
    "request-processor": {"postgres", "listener", "side_tasks", "rabbitmq"},
    "notifier": {"postgres", "listener", "side_tasks", "rabbitmq"},
    "token-delivery": {"postgres", "listener", "side_tasks", "rabbitmq"},
}
BUS_USERS = ("request-processor", "notifier", "token-delivery")


def _proxy_to(url: str) -> FaultProxy:
    parts = urlsplit(url)
    return FaultProxy(parts.hostname or "127.0.0.1", parts.port or 0).start()


@pytest.fixture(scope="module")
def proxied(server_urls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, FaultProxy, FaultProxy]]:
    with fresh_backing(server_urls, "mgmt") as backing:
        postgres, rabbitmq = _proxy_to(backing.database_url), _proxy_to(backing.amqp_url)
        stack = Stack(postgres.rewrite(backing.database_url), rabbitmq.rewrite(backing.amqp_url),
                      backing.namespace, tmp_path_factory.mktemp("mgmt-logs"),
                      admin_database_url=backing.database_url)
        try:
            stack.start_all()
            yield stack, postgres, rabbitmq
        finally:
            stack.stop_all()
            postgres.stop()
            rabbitmq.stop()


async def _get(url: str) -> tuple[int, str, dict | str]:
    async with aiohttp.ClientSession() as http, http.get(url) as answer:
        body = await answer.json() if answer.content_type == "application/json" else await answer.text()
        return answer.status, answer.content_type, body


async def _readiness_until(stack: Stack, service: str, status: int, timeout: float = 30) -> dict:
    for _ in range(int(timeout * 5)):
        code, _, body = await _get(f"{stack.management_url(service)}/health/ready")
        if code == status:
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"{service} readiness never turned {status}: {body}")


async def test_every_service_answers_live_ready_and_metrics_on_its_own_port(proxied) -> None:
    stack, _, _ = proxied
    assert len({stack.management_ports[service] for service in SERVICES}) == 4
    for service in SERVICES:
        base = stack.management_url(service)
        assert (await _get(f"{base}/health/live"))[:2] == (200, "application/json")
        status, _, ready = await _get(f"{base}/health/ready")
        assert status == 200, ready
        assert ready == {"status": "ok", "checks": dict.fromkeys(CHECKS[service], "ok")}
        status, content_type, metrics = await _get(f"{base}/metrics")
        assert (status, content_type) == (200, "text/plain")
        assert "process_resident_memory_bytes" in metrics


async def test_readiness_turns_503_while_rabbitmq_is_cut_and_comes_back(proxied) -> None:
    stack, _, rabbitmq = proxied
    with rabbitmq.cut_off():
        for service in BUS_USERS:
            body = await _readiness_until(stack, service, 503)
            assert body["status"] == "unavailable"
            assert body["checks"]["rabbitmq"] == "the RabbitMQ connection is down"
            assert body["checks"]["postgres"] == "ok"
        assert (await _get(f"{stack.management_url('gateway')}/health/ready"))[0] == 200
    for service in BUS_USERS:
        await _readiness_until(stack, service, 200)


async def test_readiness_turns_503_while_postgres_is_cut_and_comes_back(proxied) -> None:
    stack, postgres, _ = proxied
    with postgres.cut_off():
        for service in SERVICES:
            body = await _readiness_until(stack, service, 503)
            assert body["checks"]["postgres"] != "ok"
        # The gateway's public port answers the same, for load balancers.
        assert (await _get(f"{stack.issuer}/health/ready"))[0] == 503
    for service in SERVICES:
        await _readiness_until(stack, service, 200)
    assert (await _get(f"{stack.issuer}/health/ready"))[0] == 200
