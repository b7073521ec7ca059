"""CPU per query of the gateway in one process, with distinct variables on every request.

Drives the Starlette app directly (no sockets, no HTTP client) with ``time.process_time``, so
the figure is the gateway's own CPU plus, with ``--backend demo``, the in-process simulators'.
``--backend fake`` serves 150 executions (6 node runs each) from memory, so what is measured is
almost only the GraphQL layer. Every request carries a distinct ``startedBefore`` (the page) or
a distinct window of ids (the refetch), as real clients' cursors and dates are.

    python -m bench.api_cpu [--backend fake|demo] [--workload page|refetch]
                            [--executor on|off] [--cache on|off] [--requests 200]
                            [--telemetry off|metrics|traces|both]

``--telemetry`` (with ``--backend demo``) measures what observing costs: Prometheus metrics,
OpenTelemetry traces (every span sampled and handed to a batch processor whose exporter drops
them, so the export's network time is not counted), or both.

Prints one JSON line: the options and ``ms_per_query``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import gc
import json
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from asgi_lifespan import LifespanManager

from execgate.app import create_app, gateway_app
from execgate.config import CacheSettings, ServerSettings
from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionMode,
    ExecutionQuery,
    ExecutionStatus,
    NodeExecution,
    Page,
    Watch,
    Workflow,
)
from execgate.service.gateway import Gateway
from execgate.simulate.embedded import embedded, with_demo_client

EXECUTION_FIELDS = (
    "id nativeId status mode startedAt finishedAt durationMs errorMessage workflow { id name }"
)
NODE_FIELDS = "nodeExecutions { nodeName nodeType status startedAt durationMs errorMessage }"
PAGE = (
    "query Page($before: DateTime!) { executions(first: %d, filter: {instances: [%s], "
    "startedBefore: $before}) { pageInfo { hasNextPage endCursor } edges { node { "
    f"{EXECUTION_FIELDS} {NODE_FIELDS} }} }} }} }}"
)
REFETCH = (
    "query Refetch($ids: [ID!]!) { nodes(ids: $ids) { ... on Execution { "
    f"{EXECUTION_FIELDS} {NODE_FIELDS} }} }} }}"
)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _executions(instance: str, count: int) -> list[Execution]:
    out = []
    for number in range(count, 0, -1):
        key = ExecutionKey(instance, str(number))
        start = T0 + timedelta(minutes=number)
        runs = tuple(
            NodeExecution(
                key=NodeExecutionKey(key, f"node{j}"),
                node_name=f"node{j}",
                node_type="n8n-nodes-base.set",
                status=ExecutionStatus.SUCCESS,
                status_raw="success",
                position=j,
                started_at=start + timedelta(seconds=j),
                finished_at=start + timedelta(seconds=j, milliseconds=200),
                duration_ms=200,
                input_data=[{"json": {"n": j}}],
                output_data=[{"json": {"n": j + 1}}],
            )
            for j in range(6)
        )
        out.append(
            Execution(
                key=key,
                workflow_id=f"wf{number % 7}",
                status=ExecutionStatus.SUCCESS,
                status_raw="success",
                mode=ExecutionMode.WEBHOOK,
                mode_raw="webhook",
                finished=True,
                workflow_name=f"Workflow {number % 7}",
                created_at=start,
                started_at=start,
                finished_at=start + timedelta(seconds=3),
                duration_ms=3000,
                node_executions=runs,
            )
        )
    return out


class MemoryBackend:
    """Lists that carry node data, answered from memory at once."""

    kind = BackendKind.N8N

    def __init__(self, name: str, count: int) -> None:
        self.name = name
        self.items = _executions(name, count)
        self.by_id = {e.native_id: e for e in self.items}

    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.BATCH_NODE_DATA})

    def costs(self) -> CostModel:
        return CostModel(page_size=250)

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        items = [e for e in self.items if query.matches(e)][:limit]
        more = len(items) == limit
        return Page(items=tuple(items), position={"after": items[-1].native_id} if more else None)

    async def watch(self, recent: int) -> Watch:
        return Watch(tuple(self.items[:recent]), (), more=len(self.items) > recent)

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        return {"after": consumed[-1].native_id}

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        return None

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        return {i: self.by_id[i] for i in native_ids if i in self.by_id}

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        return {i: Workflow(WorkflowKey(self.name, i), i) for i in native_ids}

    async def cancel(self, native_id: str) -> Execution | None:
        raise NotImplementedError

    async def retry(self, native_id: str) -> Execution:
        raise NotImplementedError

    async def delete(self, native_id: str) -> None:
        raise NotImplementedError


async def call(app: Any, body: bytes, key: str | None) -> bytes:
    """One POST /graphql through the ASGI app, from a loopback peer."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def run(args: argparse.Namespace) -> float:
    server = ServerSettings(fast_executor=args.executor == "on")
    cache = CacheSettings(enabled=args.cache == "on")
    key: str | None = None
    if args.backend == "demo":
        demo = embedded(seed=7)
        settings, key = with_demo_client(demo.settings)
        server = dataclasses.replace(server, metrics=args.telemetry in ("metrics", "both"))
        settings = dataclasses.replace(settings, cache=cache, server=server)
        tracing = _tracing() if args.telemetry in ("traces", "both") else None
        app = create_app(settings, transports=demo.transports, tracing=tracing)
        instance = "acme"
    else:
        gateway = Gateway({"mem": MemoryBackend("mem", 150)})
        app = gateway_app(gateway, server=server, cache=cache)
        instance = "mem"
    page = PAGE % (args.first, json.dumps(instance))

    def body(number: int) -> bytes:
        if args.workload == "refetch":
            # 300 distinct id lists: 100 windows, in order, reversed, or one shorter
            start = number % 100 + 1
            numbers = list(range(start, start + 50))
            variant = (number // 100) % 3
            if variant == 1:
                numbers.reverse()
            elif variant == 2:
                numbers.pop()
            ids = [base64.b64encode(f"Execution:{instance}:{n}".encode()).decode() for n in numbers]
            return json.dumps({"query": REFETCH, "variables": {"ids": ids}}).encode()
        before = (datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=number)).isoformat()
        return json.dumps({"query": page, "variables": {"before": before}}).encode()

    async with LifespanManager(app) as manager:
        for number in range(args.warmup):
            answer = json.loads(await call(manager.app, body(-number - 1), key))
            assert "errors" not in answer, answer
        gc.collect()
        started = time.process_time()
        for number in range(args.requests):
            await call(manager.app, body(number), key)
        spent = time.process_time() - started
    return 1000 * spent / int(args.requests)


def _tracing() -> Any:
    """Every span sampled, batched and dropped (the OTLP exporter's work without its network)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from execgate.telemetry.tracing import Tracing

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Dropped()))
    return Tracing(provider)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("fake", "demo"), default="fake")
    parser.add_argument("--workload", choices=("page", "refetch"), default="page")
    parser.add_argument("--executor", choices=("on", "off"), default="on")
    parser.add_argument("--cache", choices=("on", "off"), default="on")
    parser.add_argument("--first", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--telemetry", choices=("off", "metrics", "traces", "both"), default="off")
    args = parser.parse_args()
    ms = asyncio.run(run(args))
    print(json.dumps({**vars(args), "ms_per_query": round(ms, 3)}))


if __name__ == "__main__":
    main()
