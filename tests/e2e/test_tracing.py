"""OpenTelemetry tracing across the four service processes: with OTEL_EXPORTER_OTLP_ENDPOINT
set, one ping flow is one trace, with spans from every service, sent over OTLP/HTTP to a
local receiver; with it unset, nothing of a trace leaves the services.

A stack of its own (database and namespace), started with the tracing environment.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.e2e.conftest import Account, make_user, relying_party, stack_of_its_own
from tests.e2e.test_ping_push import BEARER, decide, start
from tests.support import tls
from tests.support.callback import CallbackServer
from tests.support.otlp import OtlpReceiver, ReceivedSpan
from tests.support.rp import RelyingParty
from tests.support.stack import Stack
from tests.support.webhook import WebhookReceiver

pytestmark = pytest.mark.e2e

SERVICES = {"ciba-gateway", "ciba-request-processor", "ciba-notifier", "ciba-token-delivery"}


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture(scope="module")
def traced(server_urls, receiver: OtlpReceiver, webhook: WebhookReceiver, pki: tls.TestPKI,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with stack_of_its_own(server_urls, "tracing", webhook, pki, tmp_path_factory,
                          OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="100") as stack:
        yield stack


@pytest.fixture
async def traced_rp(traced: Stack) -> AsyncIterator[RelyingParty]:
    async with relying_party(traced) as party:
        yield party


def _trace_id(traceparent: str) -> str:
    version, trace_id, _span_id, _flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32
    return trace_id


def _one(spans: list[ReceivedSpan], name: str) -> ReceivedSpan:
    [span] = [span for span in spans if span.name == name]
    return span


async def test_one_ping_flow_is_one_trace_with_spans_from_all_four_services(
        traced: Stack, traced_rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer,
        receiver: OtlpReceiver) -> None:
    user: Account = make_user(traced)
    _client, auth_req_id, key = await start(traced_rp, callbacks, user, "ping")
    await decide(webhook, user, "approve")
    [ping] = await callbacks.wait_calls(key, 1)
    # The ping carries the trace on to the relying party.
    trace_id = _trace_id(ping.headers["traceparent"])

    namespace = traced.namespace
    spans = await receiver.wait_for(trace_id, {
        "POST /bc-authorize", "auth_request.created publish", f"{namespace}.notifier process",
        "auth_request decide", "auth_request.decided publish", f"{namespace}.token-delivery process", "POST"})

    assert {span.service for span in spans} == SERVICES
    ids = {span.span_id for span in spans}
    bc_authorize = _one(spans, "POST /bc-authorize")
    assert (bc_authorize.service, bc_authorize.kind, bc_authorize.parent_span_id) == ("ciba-gateway", "SERVER", "")
    assert bc_authorize.attributes["http.response.status_code"] == 200
    # Every other span hangs from one in the same trace: the trace is whole.
    assert all(span.parent_span_id in ids for span in spans if span is not bc_authorize)

    created = _one(spans, "auth_request.created publish")
    assert (created.service, created.kind, created.parent_span_id) == (
        "ciba-request-processor", "PRODUCER", bc_authorize.span_id)
    notified = _one(spans, f"{namespace}.notifier process")
    assert (notified.service, notified.kind, notified.parent_span_id) == ("ciba-notifier", "CONSUMER", created.span_id)
    # The webhook that reached the user is a client span of the notifier's.
    webhook_call = [span for span in spans if span.kind == "CLIENT" and span.parent_span_id == notified.span_id]
    assert [span.attributes["http.response.status_code"] for span in webhook_call] == [204]

    # The decision came in another HTTP request (the user's device): it joins the request's
    # trace, linked to that request's own trace.
    decided = _one(spans, "auth_request decide")
    assert (decided.service, decided.parent_span_id) == ("ciba-gateway", bc_authorize.span_id)
    [(consent_trace, consent_span)] = decided.links
    consent = [span for span in receiver.trace(consent_trace) if span.span_id == consent_span]
    assert [span.name for span in consent] == ["POST /device/{ref}/decision"]

    published = _one(spans, "auth_request.decided publish")
    assert published.parent_span_id == decided.span_id
    delivered = _one(spans, f"{namespace}.token-delivery process")
    assert (delivered.service, delivered.parent_span_id) == ("ciba-token-delivery", published.span_id)
    ping_call = [span for span in spans if span.kind == "CLIENT" and span.parent_span_id == delivered.span_id]
    assert [span.attributes["http.response.status_code"] for span in ping_call] == [204]
    # What the relying party received names the client span that sent it.
    assert ping.headers["traceparent"].split("-")[2] == ping_call[0].span_id
    # No secret in any span: not the auth_req_id, not the bearer token, not the URL's query.
    assert all(auth_req_id not in repr(span) and BEARER not in repr(span) for span in spans)


async def test_without_the_otel_environment_no_trace_context_leaves_the_services(
        stack: Stack, rp: RelyingParty, webhook: WebhookReceiver, callbacks: CallbackServer, user: Account) -> None:
    _client, _auth_req_id, key = await start(rp, callbacks, user, "ping")
    await decide(webhook, user, "approve")
    [ping] = await callbacks.wait_calls(key, 1)
    assert "traceparent" not in {name.lower() for name in ping.headers}
    assert not any(line.get("event") == "tracing_enabled" for service in ("gateway", "notifier")
                   for line in stack.log_lines(service))
