"""OpenTelemetry traces: the span tree of a request, traceparent in and out, no span storm."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from execgate.app import create_app
from execgate.simulate.embedded import embedded, with_demo_client
from execgate.telemetry.tracing import Tracing, from_environment
from tests.security.test_request_id import Recording
from tests.serving import serving

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
PAGE = """query Page { executions(first: 50) { edges { node {
  id status workflow { id } nodeExecutions { nodeName status inputData } } } } }"""


@dataclasses.dataclass
class Traced:
    client: Any
    key: str
    spans: InMemorySpanExporter
    seen: list[dict[str, str]]
    app: Any
    secrets: list[str]


@pytest.fixture
async def traced() -> AsyncIterator[Traced]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    demo = embedded(seed=7)
    settings, key = with_demo_client(demo.settings)
    seen: list[dict[str, str]] = []
    transports = {name: Recording(t, seen) for name, t in demo.transports.items()}
    app = create_app(settings, transports=transports, tracing=Tracing(provider))
    secrets = [i.credential for i in settings.instances] + [key]
    async with serving(app) as client:
        yield Traced(client, key, exporter, seen, app, secrets)


def _hex(number: int, width: int) -> str:
    return format(number, f"0{width}x")


async def test_a_request_is_one_trace_of_server_operation_and_backend_spans(
    traced: Traced,
) -> None:
    answer = await traced.client.post(
        "/graphql",
        json={"query": PAGE},
        headers={"Authorization": f"Bearer {traced.key}", "traceparent": TRACEPARENT},
    )
    assert len(answer.json()["data"]["executions"]["edges"]) == 50
    spans: list[ReadableSpan] = list(traced.spans.get_finished_spans())
    assert {_hex(s.context.trace_id, 32) for s in spans} == {TRACE_ID}
    [server] = [s for s in spans if s.kind is SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert server.parent is not None and _hex(server.parent.span_id, 16) == CALLER_SPAN
    assert server.attributes["http.response.status_code"] == 200
    [operation] = [s for s in spans if s.name == "query Page"]
    assert operation.parent is not None and operation.parent.span_id == server.context.span_id
    assert operation.attributes["graphql.operation.name"] == "Page"
    backend = [s for s in spans if s.kind is SpanKind.CLIENT]
    sent = sum(traced.app.state.registry.calls().values())
    # one span per backend request, each a child of the operation: no span per field
    assert len(backend) == sent == len(traced.seen)
    assert len(spans) == sent + 2
    assert all(
        s.parent is not None and s.parent.span_id == operation.context.span_id for s in backend
    )
    assert {s.attributes["execgate.instance"] for s in backend} == {
        "acme",
        "n8n-prod",
        "n8n-staging",
    }
    assert {s.attributes["execgate.outcome"] for s in backend} == {"ok"}
    # each backend request carried its own span as traceparent, in the caller's trace
    parents = {h["traceparent"] for h in traced.seen}
    assert parents == {f"00-{TRACE_ID}-{_hex(s.context.span_id, 16)}-01" for s in backend}
    # and no attribute holds a credential, a key or an address
    values = " ".join(str(v) for s in spans for v in (s.attributes or {}).values())
    assert not any(secret in values for secret in traced.secrets)
    assert "http://" not in values and "inprocess" not in values
    # and the fast executor still ran it
    assert traced.app.state.schema.fast is True


async def test_without_a_traceparent_each_request_starts_its_own_trace(traced: Traced) -> None:
    for _ in range(2):
        await traced.client.post(
            "/graphql",
            json={"query": "{ instances { name } }"},
            headers={"Authorization": f"Bearer {traced.key}"},
        )
    spans = traced.spans.get_finished_spans()
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert len(servers) == 2 and all(s.parent is None for s in servers)
    assert len({s.context.trace_id for s in servers}) == 2
    # health checks are not traced
    await traced.client.get("/healthz")
    assert len(traced.spans.get_finished_spans()) == len(spans)


async def test_a_refused_operation_is_an_error_span(traced: Traced) -> None:
    await traced.client.post(
        "/graphql",
        json={"query": "query Bad { nothing }"},
        headers={"Authorization": f"Bearer {traced.key}"},
    )
    [operation] = [s for s in traced.spans.get_finished_spans() if s.name.endswith("Bad")]
    assert operation.attributes["execgate.outcome"] == "rejected"
    assert not operation.status.is_ok


def test_tracing_is_off_unless_the_environment_names_an_exporter() -> None:
    assert from_environment({}) is None
    assert from_environment({"OTEL_TRACES_EXPORTER": "none"}) is None
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert from_environment({**endpoint, "OTEL_SDK_DISABLED": "true"}) is None
    on = from_environment(endpoint)
    assert on is not None
    on.shutdown()
    console = from_environment({"OTEL_TRACES_EXPORTER": "console"})
    assert console is not None
    console.shutdown()
