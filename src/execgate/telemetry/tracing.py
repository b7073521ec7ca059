"""OpenTelemetry traces (``pip install 'execgate[otel]'``), configured by the ``OTEL_*``
variables.

One trace per request: a server span per HTTP request to ``/graphql`` and ``/mcp`` (its
parent the caller's W3C ``traceparent``, when it sent one), a span per GraphQL operation
(``api/observe.py``), and a client span per backend request (``telemetry.seam``), whose
``traceparent`` goes to the backend. No span per resolver or field: a page of a hundred
executions is three spans and its backend requests, and the fast executor stays on.

Attributes name the instance, the backend operation, the HTTP method and status, the GraphQL
operation's name and type, and the outcome — never a URL, a document, a variable, a header or
a credential.

``from_environment`` turns tracing on when the SDK is installed, ``OTEL_SDK_DISABLED`` is not
``true``, and an exporter is named: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``) or an
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``. The exporter
(OTLP over HTTP), the sampler (``OTEL_TRACES_SAMPLER``), the resource (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``; ``service.name`` defaults to ``execgate``) and the propagators
(``OTEL_PROPAGATORS``) read their own variables.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer, TracerProvider

log = logging.getLogger("execgate.telemetry")

INSTRUMENTATION = "execgate"
TRACED_PATHS = ("/graphql", "/mcp")
_HEALTHY_OUTCOMES = frozenset({"ok", "not_found", "refused"})


class BackendSpan:
    """One backend request's client span (the seam's ``Span``)."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def inject(self, headers: dict[str, str]) -> None:
        propagate.inject(headers, context=trace.set_span_in_context(self._span))

    def end(self, outcome: str, status: int | None) -> None:
        span = self._span
        span.set_attribute("execgate.outcome", outcome)
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if outcome not in _HEALTHY_OUTCOMES:
            span.set_status(Status(StatusCode.ERROR, outcome))
        span.end()


class Tracing:
    """The tracer of one app, and the spans it makes."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = provider.get_tracer(INSTRUMENTATION)

    def backend(self, instance: str, operation: str, method: str) -> BackendSpan:
        return BackendSpan(
            self.tracer.start_span(
                f"backend {operation}",
                kind=SpanKind.CLIENT,
                attributes={
                    "execgate.instance": instance,
                    "execgate.backend.operation": operation,
                    "http.request.method": method,
                },
            )
        )

    @contextlib.contextmanager
    def operation(self) -> Iterator[OperationSpan]:
        """The span of one GraphQL operation, current while it runs (named once known)."""
        with self.tracer.start_as_current_span("graphql.operation", kind=SpanKind.INTERNAL) as span:
            yield OperationSpan(span)

    def shutdown(self) -> None:
        shutdown = getattr(self.provider, "shutdown", None)
        if callable(shutdown):
            shutdown()


class OperationSpan:
    """A GraphQL operation's span, named when the operation is known."""

    __slots__ = ("_span",)

    def __init__(self, span: trace.Span) -> None:
        self._span = span

    def named(self, name: str | None, kind: str, outcome: str) -> None:
        span = self._span
        span.update_name(f"{kind} {name}" if name else kind)
        if name:
            span.set_attribute("graphql.operation.name", name)
        span.set_attribute("graphql.operation.type", kind)
        span.set_attribute("execgate.outcome", outcome)
        if outcome != "ok":
            span.set_status(Status(StatusCode.ERROR, outcome))


class TracingMiddleware:
    """The server span of each request to ``TRACED_PATHS``, child of the caller's
    ``traceparent``."""

    def __init__(self, app: Any, *, tracing: Tracing) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope.get("type") != "http" or path not in TRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope.get("headers", ())
            if key in (b"traceparent", b"tracestate", b"baggage")
        }
        parent: Context = propagate.extract(carrier)
        method = scope.get("method", "GET")
        with self.tracing.tracer.start_as_current_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path},
        ) as span:

            async def recorded(message: Mapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
                await send(message)

            await self.app(scope, receive, recorded)


def from_environment(environ: Mapping[str, str] | None = None) -> Tracing | None:
    """Tracing as the ``OTEL_*`` variables configure it, or ``None`` (see the docstring)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if exporter == "none" or (exporter == "" and not endpoint):
        return None
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SDKProvider
        from opentelemetry.sdk.trace.export import (
            BatchSpanProcessor,
            ConsoleSpanExporter,
            SpanExporter,
        )
    except ImportError:
        log.warning("OTEL_* asks for traces, but the SDK is missing: pip install 'execgate[otel]'")
        return None
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            log.warning("no OTLP exporter installed: pip install 'execgate[otel]'")
            return None
        span_exporter = OTLPSpanExporter()
    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "execgate"}))
    provider = SDKProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    log.info("OpenTelemetry traces on (%s exporter)", exporter or "otlp")
    return Tracing(provider)
