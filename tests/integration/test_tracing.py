"""How the trace context travels, in-process with the OpenTelemetry SDK's in-memory exporter:
from the relying party's ``traceparent`` through /bc-authorize, the stored request, the outbox
row, the relay's publish and the AMQP headers, to the consumer's span; and the decision,
which comes in another HTTP request, joining the request's trace.

(tests/e2e/test_tracing.py proves the same across the four service processes over OTLP.)
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import pytest
from aiohttp.test_utils import TestClient, TestServer
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.gateway.app import create_app
from services.gateway.context import Gateway
from services.request_processor.outbox_relay import OutboxRelay
from shared import tracing
from shared.bus.connection import Bus
from shared.bus.consumer import ConsumerRunner, Delivery
from shared.domain import lifecycle
from shared.events import AnyEvent
from shared.repositories import auth_requests
from shared.runtime import Runtime
from tests.support.gateway_client import add_user, register

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CONSUMER = "test-tracing"
ROUTING_KEY = "test.tracing"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.shutdown()


@pytest.fixture
async def traced_http(exported: InMemorySpanExporter, gateway: Gateway) -> AsyncIterator[TestClient]:
    """The gateway app built while tracing is on (its middleware is chosen then)."""
    async with TestClient(TestServer(create_app(gateway))) as client:
        yield client


@pytest.fixture
async def bus(backing) -> AsyncIterator[Bus]:
    bus = await Bus.connect(backing.amqp_url, backing.namespace, service=CONSUMER)
    yield bus
    await bus.close()


def _named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in exporter.get_finished_spans() if span.name == name]


def _ids(traceparent: str | bytes) -> tuple[str, str]:
    text = traceparent.decode() if isinstance(traceparent, bytes) else traceparent
    _version, trace_id, span_id, _flags = text.split("-")
    return trace_id, span_id


def _hex(span: ReadableSpan) -> tuple[str, str]:
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


async def _relayed(runtime: Runtime, bus: Bus, request_id: uuid.UUID, routing_key: str) -> aio_pika.IncomingMessage:
    """Relay the outbox and return the request's event as the broker routed it."""
    queue = await bus.channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(bus.exchange, routing_key=routing_key)
    await OutboxRelay(runtime.pool, bus, runtime.secrets, runtime.clock).relay_once()
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        if request_id.hex in message.body.decode().replace("-", ""):
            return message
    raise AssertionError(f"no {routing_key} event for {request_id}")


async def test_the_callers_trace_runs_through_the_request_the_relay_and_the_consumer(
        exported, traced_http, gateway, runtime, bus, backing, pool) -> None:
    client = await register(traced_http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    answer = await traced_http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                                    headers={**client.basic, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    assert answer.status == 200

    # The gateway's server span continues the caller's trace.
    [server] = _named(exported, "POST /bc-authorize")
    assert server.kind == SpanKind.SERVER
    assert _hex(server)[0] == CALLER_TRACE
    assert format(server.parent.span_id, "016x") == CALLER_SPAN
    assert server.attributes["http.route"] == "/bc-authorize"
    assert server.attributes["http.response.status_code"] == 200
    # The request keeps the span it began in.
    auth_req_id = (await answer.json())["auth_req_id"]
    request = await auth_requests.get_by_hash(pool, runtime.secrets.hashes(auth_req_id))
    assert _ids(request.traceparent) == _hex(server)

    # The relay's publish continues it, and its context travels in the AMQP headers.
    message = await _relayed(runtime, bus, request.id, "auth_request.created")
    [publish] = [span for span in _named(exported, "auth_request.created publish")
                 if span.attributes["messaging.message.id"] == message.message_id]
    assert publish.kind == SpanKind.PRODUCER
    assert publish.parent.span_id == server.context.span_id
    assert _ids(message.headers["traceparent"]) == _hex(publish)

    # A consumer continues from the headers (the same message, routed to a test queue).
    handled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    class Handler:
        consumer, routing_keys, checks_processed = CONSUMER, (ROUTING_KEY,), False

        async def handle(self, event: AnyEvent, delivery: Delivery) -> None:
            handled.set_result(None)

        async def on_exhausted(self, event: AnyEvent, delivery: Delivery, reason: str) -> None:
            pass

    runner = ConsumerRunner(bus, pool, Handler(), max_attempts=lambda: 1)
    await runner.start()
    try:
        await bus.publish_event(ROUTING_KEY, message.body, message_id=str(uuid.uuid4()),
                                headers=dict(message.headers))
        await asyncio.wait_for(handled, 5)
    finally:
        await runner.stop(grace=5)
    await asyncio.sleep(0.1)  # the span ends once the message is acked
    [consumed] = _named(exported, f"{backing.namespace}.{CONSUMER} process")
    assert consumed.kind == SpanKind.CONSUMER
    assert consumed.parent.span_id == publish.context.span_id
    assert _hex(consumed)[0] == CALLER_TRACE


async def test_a_decision_made_in_another_http_request_joins_the_requests_trace(
        exported, traced_http, gateway, runtime, bus, pool) -> None:
    client = await register(traced_http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    answer = await traced_http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                                    headers=client.basic)
    request = await auth_requests.get_by_hash(pool, runtime.secrets.hashes((await answer.json())["auth_req_id"]))
    [server] = _named(exported, "POST /bc-authorize")
    assert server.parent is None  # no caller trace: the request's trace begins here

    # The user's device posts the decision in a trace of its own.
    with tracing.span("POST /device/{ref}/decision", kind="SERVER") as consent:
        await lifecycle.decide(pool, request, approved=True, now=runtime.clock.now(), auth_time=runtime.clock.now(),
                               acr=None, service="gateway")

    [decide] = _named(exported, "auth_request decide")
    assert decide.parent.span_id == server.context.span_id
    assert _hex(decide)[0] == _hex(server)[0] != format(consent.get_span_context().trace_id, "032x")
    assert [link.context.span_id for link in decide.links] == [consent.get_span_context().span_id]
    message = await _relayed(runtime, bus, request.id, "auth_request.decided")
    [publish] = _named(exported, "auth_request.decided publish")
    assert publish.parent.span_id == decide.context.span_id
    assert _ids(message.headers["traceparent"])[0] == _hex(server)[0]


async def test_while_off_nothing_is_traced_or_stored(gateway, http, runtime, pool) -> None:
    assert not tracing.enabled()
    assert tracing.current_traceparent() is None
    with tracing.span("anything") as opened:
        assert opened is None
    client = await register(http, backchannel_token_delivery_mode="poll")
    user = await add_user(gateway)
    answer = await http.post("/bc-authorize", data={"scope": "openid", "login_hint": user.username},
                             headers={**client.basic, "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    request = await auth_requests.get_by_hash(pool, runtime.secrets.hashes((await answer.json())["auth_req_id"]))
    assert request.traceparent is None


def test_tracing_is_wanted_only_when_the_environment_asks() -> None:
    assert not tracing.wanted({})
    assert not tracing.wanted({"CIBA_OTEL": "0", "OTEL_EXPORTER_OTLP_ENDPOINT": " "})
    assert tracing.wanted({"CIBA_OTEL": "1"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing.configure("gateway", {}) is False
    assert not tracing.enabled()


def test_asking_for_tracing_without_opentelemetry_installed_says_what_to_install(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(tracing.TracingUnavailable, match=r"pip install 'ciba-server\[otel\]'"):
        tracing.configure("gateway", {"CIBA_OTEL": "1"})
    assert not tracing.enabled()
