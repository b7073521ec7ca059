"""``execgate serve`` with the standard ``OTEL_*`` variables, exporting to an in-process OTLP
receiver (OTLP over HTTP, protobuf), and the span tree it receives."""

from __future__ import annotations

import secrets
import time

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from execgate.config import InstanceSettings
from execgate.domain.models import BackendKind
from execgate.security.clients import client_block, hash_key, new_key
from execgate.simulate.generate import generate_store
from execgate.simulate.n8n_api import create_n8n_app
from execgate.simulate.server import BackgroundServer
from tests.faults.gateway import gateway_process

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


class Receiver:
    """An OTLP/HTTP trace receiver: keeps every span it is sent, and the service names."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.services: set[str] = set()
        self.app = Starlette(routes=[Route("/v1/traces", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.body())
        for resource_spans in export.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    self.services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                self.spans.extend(scope_spans.spans)
        return Response(
            ExportTraceServiceResponse().SerializeToString(),
            media_type="application/x-protobuf",
        )


def test_the_otlp_receiver_gets_one_trace_per_request() -> None:
    receiver = Receiver()
    api_key, key = f"sim-{secrets.token_urlsafe(12)}", new_key()
    store = generate_store(4, style="n8n", executions=30)
    with (
        BackgroundServer(receiver.app) as collector,
        BackgroundServer(create_n8n_app(store, api_key=api_key)) as n8n,
    ):
        instance = InstanceSettings("n8n-prod", BackendKind.N8N, n8n.base_url, api_key)
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.base_url,
            "OTEL_SERVICE_NAME": "execgate-under-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
        with gateway_process(
            [instance], tables=client_block("ops", hash_key(key)), env=env
        ) as gateway:
            answer = httpx.post(
                gateway.url + "/graphql",
                json={"query": "query Recent { executions(first: 10) { edges { node { id } } } }"},
                headers={
                    "Authorization": f"Bearer {key}",
                    "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01",
                },
            )
            assert answer.status_code == 200
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                s.name == "POST /graphql" for s in receiver.spans
            ):
                time.sleep(0.05)
    spans = {s.name: s for s in receiver.spans}
    assert receiver.services == {"execgate-under-test"}
    server, operation = spans["POST /graphql"], spans["query Recent"]
    assert {s.trace_id.hex() for s in receiver.spans} == {TRACE_ID}
    assert server.parent_span_id.hex() == CALLER_SPAN
    assert operation.parent_span_id == server.span_id
    backend = [s for s in receiver.spans if s.name.startswith("backend ")]
    assert backend and all(s.parent_span_id == operation.span_id for s in backend)
    attributes = {a.key: a.value.string_value for a in backend[0].attributes}
    assert attributes["execgate.instance"] == "n8n-prod"
    assert len(receiver.spans) == len(backend) + 2
