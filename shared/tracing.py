"""OpenTelemetry tracing: one trace per CIBA request, across the four services.

Optional (``pip install '.[otel]'``) and off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, or ``CIBA_OTEL=1``. While off, nothing of
OpenTelemetry is imported: every helper here returns at its first line (no span, no context,
no header), and the gateway does not even install its tracing middleware.

How the trace is carried (W3C trace context, the ``traceparent`` string):

- the gateway opens a server span per HTTP request (continuing a caller's ``traceparent``);
- ``/bc-authorize`` stores its span's context with the request (``auth_requests.traceparent``):
  that is the request's trace, which every later step continues;
- an outbox row carries the context its writer chose (``outbox.traceparent``; the decision
  step, say), else the relay takes the request's; the relay's publish span continues it and
  travels in the AMQP headers;
- each consumer's span continues the headers' context, and its outbound HTTP calls (webhook,
  ping, push) are client spans that send ``traceparent`` on.

Spans go to the OTLP/HTTP exporter, configured by the standard ``OTEL_*`` variables
(endpoint, headers, timeout, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``), through a
batch processor: exporting never blocks a request.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import aiohttp

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Span, Tracer

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"

_tracer: Tracer | None = None
_provider: TracerProvider | None = None


class TracingUnavailable(RuntimeError):
    """Tracing was asked for, but OpenTelemetry is not installed."""


def wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for tracing."""
    if environ.get("CIBA_OTEL", "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARIABLES)


def enabled() -> bool:
    return _tracer is not None


def configure(service: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Start exporting this process's spans over OTLP/HTTP if the environment asks for it;
    returns whether tracing is on. Called once per process (per gateway worker: after the
    fork, since the batch processor runs a thread)."""
    if not wanted(environ):
        return False
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise TracingUnavailable(
            "tracing is on (OTEL_EXPORTER_OTLP_ENDPOINT or CIBA_OTEL) but OpenTelemetry is not installed: "
            "pip install 'ciba-server[otel]'") from None
    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, win over the default name.
    resource = Resource.create({"service.name": f"ciba-{service}"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    install(provider)
    return True


def install(provider: TracerProvider) -> None:
    """Trace into ``provider`` (``configure`` does this; a test passes one with an in-memory
    exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("ciba")


def shutdown() -> None:
    """Export what is still buffered, then stop tracing."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None


def _propagator() -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator()


def _text_headers(headers: Mapping[str, Any]) -> dict[str, str]:
    """The trace context headers as text (AMQP headers may arrive as bytes)."""
    found = {}
    for name in (TRACEPARENT, TRACESTATE):
        value = headers.get(name)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        if isinstance(value, str):
            found[name] = value
    return found


def _context_of(traceparent: str | None) -> Any:
    return _propagator().extract({TRACEPARENT: traceparent}) if traceparent else None


def current_traceparent() -> str | None:
    """The current span's context as a ``traceparent`` string, to store; None while off."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    return carrier.get(TRACEPARENT)


def inject(headers: MutableMapping[str, Any]) -> None:
    """Add the current context (``traceparent``, ``tracestate``) to outgoing headers."""
    if _tracer is not None:
        _propagator().inject(headers)


def _kind(name: str) -> Any:
    from opentelemetry.trace import SpanKind

    return getattr(SpanKind, name)


@contextmanager
def span(name: str, *, parent: str | None = None, headers: Mapping[str, Any] | None = None,
         kind: str = "INTERNAL", attributes: Mapping[str, Any] | None = None,
         link_current: bool = False) -> Iterator[Span | None]:
    """A span, current inside the block; None while off.

    Its parent is ``parent`` (a stored ``traceparent``), or the context in ``headers`` (an
    incoming request or message), or else the current span. ``link_current`` links the span
    that was current when its parent was taken from elsewhere (the HTTP request that decided a
    request whose trace began at /bc-authorize)."""
    if _tracer is None:
        yield None
        return
    from opentelemetry import trace

    context = _context_of(parent) if parent else None
    if context is None and headers is not None:
        carried = _text_headers(headers)
        context = _propagator().extract(carried) if carried else None
    links = None
    if link_current and context is not None:
        current = trace.get_current_span().get_span_context()
        links = [trace.Link(current)] if current.is_valid else None
    with _tracer.start_as_current_span(name, context=context, kind=_kind(kind), attributes=attributes,
                                       links=links) as opened:
        yield opened


def set_attributes(opened: Span | None, **attributes: Any) -> None:
    if opened is not None:
        opened.set_attributes({key.replace("__", "."): value for key, value in attributes.items()
                               if value is not None})


def mark_error(opened: Span | None, description: str) -> None:
    if opened is not None:
        from opentelemetry.trace import Status, StatusCode

        opened.set_status(Status(StatusCode.ERROR, description[:200]))


def client_middlewares() -> tuple[Any, ...]:
    """What an aiohttp ClientSession adds to its ``middlewares``: nothing while off."""
    return (client_middleware,) if _tracer is not None else ()


async def client_middleware(request: aiohttp.ClientRequest,
                            handler: aiohttp.ClientHandlerType) -> aiohttp.ClientResponse:
    """An aiohttp client middleware: each outbound call a client span, its context sent on in
    ``traceparent``. The URL is recorded without its query (it may carry a secret)."""
    if _tracer is None:
        return await handler(request)
    url = request.url
    with span(request.method, kind="CLIENT", attributes={
            "http.request.method": request.method, "server.address": url.host or "",
            "server.port": url.port or 0, "url.full": str(url.with_query(None).with_fragment(None))}) as opened:
        inject(request.headers)
        try:
            response = await handler(request)
        except Exception as exc:
            mark_error(opened, type(exc).__name__)
            set_attributes(opened, error__type=type(exc).__name__)
            raise
        set_attributes(opened, http__response__status_code=response.status)
        if response.status >= 500:
            mark_error(opened, str(response.status))
        return response
