"""The Starlette application: /graphql (GraphiQL in a browser), /mcp, /export and /healthz.

``create_app`` builds the HTTP surface from the settings; its lifespan opens each instance's
client (the registry) and builds the gateway over them (``runtime.open_gateway``), starts the
MCP endpoint, and closes the clients and the audit file when the server stops.

``/graphql`` runs a schema built from the settings (``api/schema.py``: limits, executor,
memory bounds) and sits behind ``SecurityMiddleware`` (client key, rate limit, body size); each
request's context holds the gateway scoped to its client, which writes the audit trail; every
error leaving it is stripped of backend credentials and addresses. ``/mcp`` (unless
``[mcp] enabled = false``) serves the MCP tools over the same gateway, behind ``MCPGuard`` (the
same client keys and body limit); each tool call runs under its client's scope and rate limit.
``/healthz`` stays open.

Subscriptions (``api/subscriptions.py``) are served on ``/graphql`` three ways, all strawberry's
own transports: graphql-transport-ws over a WebSocket (``websocket.py`` adds the key check at
``connection_init``, the rate limit and the redaction), GraphQL over Server-Sent Events (the
graphql-sse protocol's distinct connections mode: ``Accept: text/event-stream``) and multipart
HTTP subscriptions as Apollo Client asks for them (``Accept: multipart/mixed;
subscriptionSpec=1.0``); the two HTTP ones pass the same guard as any request.

``/graphql`` speaks GraphQL over HTTP as its specification defines it (``api/media.py``): the
``Accept`` header chooses ``application/graphql-response+json`` (a request error is then a 4xx
without ``data``) or ``application/json`` (200 for every well-formed request), and neither is
a 406; GET runs queries only (a mutation is a 405). Every request that is not one GraphQL
request (bad JSON, a body that is not an object, a ``query``, ``variables``, ``operationName``
or ``extensions`` of the wrong type, a batch, another method) is a coded 4xx, never a 500.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.parse_content_type import parse_content_type
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET

from execgate import __version__
from execgate.api.context import Context, build_context
from execgate.api.errors import ensure_codes
from execgate.api.ide import ASSET_ROUTE, OfflineAssetsMissing, asset_root, offline_page
from execgate.api.media import (
    APPLICATION_JSON,
    GRAPHQL_RESPONSE_JSON,
    negotiate,
    request_error_status,
)
from execgate.api.observe import operation_metrics, outcome, record_unmeasured
from execgate.api.persisted import (
    MemoryStore,
    PersistedQueries,
    PersistedQueryRefused,
    read_manifest,
)
from execgate.api.schema import ExecgateSchema, build_schema
from execgate.backends.transport import Transport
from execgate.config import (
    CacheSettings,
    ExportSettings,
    LimitSettings,
    MCPSettings,
    ServerSettings,
    Settings,
    SharedSettings,
)
from execgate.domain.access import Scope
from execgate.domain.deadline import within
from execgate.domain.ports import AuditSink
from execgate.export.endpoint import ExportEndpoint
from execgate.mcp.endpoint import MCPEndpoint
from execgate.mcp.server import Toolbox, build_server
from execgate.runtime import open_gateway
from execgate.security.audit import AuditLog
from execgate.security.clients import Client, ClientDirectory
from execgate.security.middleware import (
    CLIENT_SCOPE_KEY,
    ExportGuard,
    MCPGuard,
    SecurityMiddleware,
    error_response,
    loopback_request,
)
from execgate.security.ratelimit import RateLimiter
from execgate.security.redact import Redactor, quiet_transport_logs
from execgate.security.request_id import RequestIDMiddleware
from execgate.service.gateway import Gateway
from execgate.service.health import Readiness
from execgate.shared.executions import RedisExecutions
from execgate.shared.live import RedisRelay
from execgate.shared.persisted import SharedQueryStore
from execgate.shared.ratelimit import SharedBuckets
from execgate.shared.redis import SharedRedis
from execgate.telemetry.context import REQUEST_ID_HEADER
from execgate.telemetry.metrics import CONTENT_TYPE, Metrics
from execgate.telemetry.seam import BackendObserver
from execgate.websocket import TextFrames, TransportWS, WebSocketGate

if TYPE_CHECKING:
    from execgate.telemetry.tracing import Tracing

log = logging.getLogger("execgate.app")

_IDE_HEADERS_MARK = "const defaultHeaders = {};"
_IDE_SUBSCRIPTION_MARK = "subscriptionUrl,\n"
"""Where the preset page adds the same headers as the WebSocket's connection parameters."""

SUBSCRIPTION_PROTOCOLS = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_SSE_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
"""graphql-transport-ws, graphql-sse and multipart subscriptions (not the legacy graphql-ws)."""

_HTTP_CODES = {
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
}
"""The code of each refusal the GraphQL view raises (any other is a 400, ``BAD_REQUEST``)."""

NOT_ACCEPTABLE = (
    "this endpoint answers with application/graphql-response+json or application/json, and "
    "the Accept header allows neither"
)


class GraphQLApp(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWS
    websocket_adapter_class = TextFrames

    def __init__(
        self,
        runtime: Runtime,
        schema: ExecgateSchema,
        *,
        gate: WebSocketGate,
        ide_headers: Mapping[str, str] | None = None,
        request_timeout: float = ServerSettings().request_timeout_seconds,
        metrics: Metrics | None = None,
        persisted: PersistedQueries | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            schema,
            subscription_protocols=SUBSCRIPTION_PROTOCOLS,
            max_subscriptions_per_connection=schema.limits.max_subscriptions_per_client,
            **kwargs,
        )
        self.metrics = metrics
        self.persisted = persisted
        self._offline_page: str | None = None
        if self.graphql_ide:
            try:
                self._offline_page = offline_page(super().graphql_ide_html)
            except OfflineAssetsMissing as exc:
                log.error("GraphiQL is not served: %s", exc)

        self.runtime = runtime
        self.gate = gate
        self.request_timeout = request_timeout
        self.node_runs = schema.node_runs
        self.ide_headers = dict(ide_headers or {})
        self.redactor = gate.redactor
        self._streams = [
            self.stream_transport_classes_by_protocol[p]()
            for p in SUBSCRIPTION_PROTOCOLS
            if p in self.stream_transport_classes_by_protocol
        ]

    def streams(self, accept: str | None) -> bool:
        """Whether ``accept`` asks for a stream (SSE, multipart subscriptions)."""
        return accept is not None and any(t.accepts(accept) for t in self._streams)

    @property
    def graphql_ide_html(self) -> str:
        """Strawberry's GraphiQL page, loading its assets from execgate (``api/ide.py``)."""
        return self._offline_page or ""

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    def decode_json(self, data: str | bytes) -> object:
        """orjson: bodies that are not UTF-8, or nested past its depth limit (1,024), fail
        as ``JSONDecodeError``, which the view answers with 400, never a 500."""
        return orjson.loads(data)

    async def render_graphql_ide(self, request: Any) -> Response:
        """GraphiQL's page; with ``ide_headers`` (the loopback demo) it sends them itself, but
        only to a browser that asked for a loopback host from a loopback origin."""
        if self._offline_page is None:
            return error_response(
                503,
                "GraphiQL's assets are not installed with this gateway; see the server log",
                "GRAPHIQL_UNAVAILABLE",
            )
        if self.ide_headers and loopback_request(request.headers):
            return HTMLResponse(self._preset_page())
        return HTMLResponse(self.graphql_ide_html)

    def _preset_page(self) -> str:
        html = self.graphql_ide_html
        if _IDE_HEADERS_MARK not in html:
            log.warning("this GraphiQL page cannot carry default headers; paste them yourself")
            return html
        preset = orjson.dumps(self.ide_headers).decode().replace("<", "\\u003c")
        html = html.replace(_IDE_HEADERS_MARK, f"const defaultHeaders = {preset};")
        if _IDE_SUBSCRIPTION_MARK not in html:
            log.warning("this GraphiQL page cannot carry the key to its subscriptions")
            return html
        return html.replace(
            _IDE_SUBSCRIPTION_MARK,
            _IDE_SUBSCRIPTION_MARK + "        wsConnectionParams: defaultHeaders,\n",
            1,
        )

    async def get_context(self, request: Any, response: Any) -> Context:
        client = request.scope.get(CLIENT_SCOPE_KEY)
        # Without an authenticated client (only the GraphiQL page gets here so), nothing is seen.
        scope = client.scope if isinstance(client, Client) else Scope.nothing()
        return build_context(self.runtime.gateway.scoped(scope), request, node_runs=self.node_runs)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        """The view's answer, with its refusals (strawberry's ``HTTPException``: plain text
        there) as coded GraphQL-shaped JSON in the negotiated media type."""
        try:
            return await super().run(request, context, root_value)
        except HTTPException as exc:
            return self._refusal(request, exc)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """The page, for a GET without ``query`` — and without ``extensions``: a GET of a
        persisted query by its hash alone is an operation."""
        return "extensions" not in request.query_params and super().should_render_graphql_ide(
            request
        )

    def _refusal(self, request: Request, exc: HTTPException) -> Response:
        media_type = negotiate(request.headers.get("accept")) or APPLICATION_JSON
        if isinstance(exc, PersistedQueryRefused):
            return persisted_refusal(exc, media_type)
        status, reason, headers = exc.status_code, exc.reason, {}
        if request.method == "GET" and isinstance(exc.__cause__, InvalidOperationTypeError):
            # The specification's answer to a mutation sent with GET.
            status, headers["Allow"] = 405, "POST"
            reason = "a mutation must be sent with POST: GET runs queries only"
        elif status == 405:
            headers["Allow"] = "GET, POST"
        return error_response(
            status,
            reason,
            _HTTP_CODES.get(status, "BAD_REQUEST"),
            headers=headers,
            media_type=media_type,
        )

    async def get_sub_response(self, request: Any) -> Response:
        """The response being built carries the negotiated media type (the view reads it back
        in ``create_response``; a request no type suits is refused while parsing)."""
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = negotiate(request.headers.get("accept")) or APPLICATION_JSON
        return sub_response

    async def create_streaming_response(
        self,
        request: Any,
        stream: Callable[[], AsyncIterator[str]],
        sub_response: Response,
        headers: Mapping[str, str],
    ) -> Response:
        """The stream, as strawberry writes it; the media type is the transport's."""
        sub_response.media_type = None
        return await super().create_streaming_response(request, stream, sub_response, headers)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry's reading of the request, after the ``Accept`` header is found usable
        and a JSON body is found to be an object (or an array: a batch, refused later), and
        with ``operationName`` checked like the other parameters."""
        accept = request.headers.get("accept")
        if negotiate(accept) is None and not self.streams(accept):
            raise HTTPException(406, NOT_ACCEPTABLE)
        if (
            request.method == "POST"
            and "application/json" in parse_content_type(request.content_type or "")[0]
        ):
            start = (await request.get_body()).lstrip(b" \t\r\n")[:1]
            if start and start not in b"{[":
                raise HTTPException(
                    400, "the request body must be a JSON object holding one GraphQL request"
                )
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData) and not isinstance(data.operation_name, str | None):
            raise HTTPException(
                400,
                "The GraphQL operation's `operationName` must be a string or null, if provided.",
            )
        if self.persisted is not None and isinstance(data, GraphQLRequestData):
            if data.extensions is not None and not isinstance(data.extensions, dict):
                raise HTTPException(400, "`extensions` must be an object, if provided")
            data = await self.persisted.resolve(data)
        return data

    async def execute_operation(
        self,
        request: Any,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        """Run the operation, then let go of what its loaders read.

        Executions and node runs read for one request are dropped as soon as the answer is
        built, by reference counting, rather than waiting in the cycle collector's oldest
        generation (a full collection over them cost about a tenth of the CPU under load).
        """
        if isinstance(request_data, GraphQLRequestData):
            context.operation_named = request_data.operation_name is not None
        started = time.perf_counter()
        result = None
        try:
            with within(self.request_timeout):
                result = await super().execute_operation(
                    request, request_adapter, request_data, context, root_value, sub_response
                )
            if self.persisted is not None:
                rejected = outcome(getattr(result, "data", None), getattr(result, "errors", None))
                await self.persisted.registered(request_data, rejected == "rejected")
            return result
        finally:
            context.loaders.release()
            if self.metrics is not None:
                name = getattr(request_data, "operation_name", None)
                record_unmeasured(self.metrics, context, name, result, started)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = ensure_codes(result.errors)
        processed = await super().process_result(request, result)
        errors = processed.get("errors")
        if errors:
            processed["errors"] = self.redactor.clean_value(errors)
        return processed

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """The answer in the negotiated media type: as ``application/graphql-response+json``,
        a request error (nothing executed) is a 4xx without ``data`` (``api/media.py``)."""
        media_type = sub_response.media_type or APPLICATION_JSON
        if media_type == GRAPHQL_RESPONSE_JSON and isinstance(response_data, dict):
            status = request_error_status(response_data)
            if status is not None:
                response_data.pop("data", None)
                sub_response.status_code = status
        response = super().create_response(response_data, sub_response)
        if media_type != APPLICATION_JSON:
            response.headers["content-type"] = media_type
        return response


def persisted_refusal(exc: PersistedQueryRefused, media_type: str) -> Response:
    """A persisted query that cannot run, as a request error in ``media_type``: 400 without
    ``data`` as ``application/graphql-response+json``, 200 with ``data: null`` otherwise."""
    error = {"message": exc.reason, "extensions": {"code": exc.code}}
    if media_type == GRAPHQL_RESPONSE_JSON:
        return Response(orjson.dumps({"errors": [error]}), 400, media_type=media_type)
    return Response(orjson.dumps({"data": None, "errors": [error]}), 200, media_type=media_type)


def tracing_from_environment() -> Tracing | None:
    """Tracing as the ``OTEL_*`` variables ask, when the ``otel`` extra is installed."""
    try:
        from execgate.telemetry.tracing import from_environment
    except ImportError:
        if any(name.startswith("OTEL_") for name in os.environ):
            log.warning("OTEL_* is set but OpenTelemetry is not: pip install 'execgate[otel]'")
        return None
    return from_environment()


def shared_redis(shared: SharedSettings, metrics: Metrics | None) -> SharedRedis | None:
    """The Redis the replicas share (``[shared]``), or ``None`` without ``redis_url``."""
    if shared.redis_url is None:
        return None
    log.info("replicas share rate limits, cached executions and persisted queries in Redis")
    return SharedRedis(
        shared.redis_url,
        password=shared.redis_password,
        prefix=shared.key_prefix,
        timeout=shared.timeout_seconds,
        retry_after=shared.retry_seconds,
        metrics=metrics,
    )


def settings_redactor(settings: Settings) -> Redactor:
    """What no answer may carry: the instances' credentials and addresses, the cursor secret."""
    secrets = [i.credential for i in settings.instances]
    if settings.server.cursor_secret is not None:
        secrets.append(settings.server.cursor_secret)
    return Redactor.for_backends(secrets, [i.base_url for i in settings.instances])


def build_clients(settings: Settings) -> list[Client]:
    """The API clients of ``settings``, each with its scope."""
    return [
        Client(
            name=c.name,
            key_sha256=c.key_sha256,
            scope=Scope.of(c.name, c.instances, c.actions),
            rate_per_second=c.rate_per_second,
            burst=c.burst,
        )
        for c in settings.clients
    ]


def create_app(
    settings: Settings,
    *,
    transports: Mapping[str, Transport] | None = None,
    ide_headers: Mapping[str, str] | None = None,
    audit: AuditSink | None = None,
    rate_clock: Callable[[], float] | None = None,
    tracing: Tracing | None = None,
) -> Starlette:
    """The gateway over the instances of ``settings``.

    The lifespan opens each instance's client (``transports`` replace the network for some
    instances: the embedded demo, tests) and the audit file, and closes them when the server
    stops; until then ``app.state.gateway`` is not set. ``audit`` replaces the audit log the
    settings name (the gateway writes to it); ``ide_headers`` are preset in GraphiQL (the
    loopback demo's key); ``tracing`` replaces what the ``OTEL_*`` variables configure
    (``telemetry/tracing.py``). Raises ``AuditError`` when the audit file cannot be opened.
    """
    quiet_transport_logs()
    audit_log = AuditLog(settings.audit.path) if audit is None else None
    sink: AuditSink = audit_log if audit_log is not None else cast("AuditSink", audit)
    redactor = settings_redactor(settings)
    runtime = Runtime()
    server = settings.server
    metrics = (
        Metrics([i.name for i in settings.instances], [c.name for c in settings.clients])
        if server.metrics
        else None
    )
    traces = tracing if tracing is not None else tracing_from_environment()
    observer = (
        BackendObserver(metrics, traces) if metrics is not None or traces is not None else None
    )
    redis = shared_redis(settings.shared, metrics)
    local_queries = MemoryStore(settings.cache.persisted_queries)
    persisted = PersistedQueries(
        SharedQueryStore(redis, local_queries) if redis is not None else local_queries,
        only=(
            read_manifest(server.persisted_queries_file)
            if server.persisted_only and server.persisted_queries_file is not None
            else None
        ),
    )

    executions = (
        RedisExecutions(redis, ttl_seconds=settings.cache.ttl_seconds)
        if redis is not None
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with open_gateway(
                settings,
                transports,
                audit=sink,
                redact=redactor.clean,
                observer=observer,
                shared=executions,
                relay=RedisRelay(redis) if redis is not None else None,
            ) as opened:
                if metrics is not None:
                    metrics.watch_cache(
                        opened.cache, executions if opened.cache is not None else None
                    )
                    metrics.watch_redis(None if redis is None else lambda: redis.up)
                    metrics.watch_live(opened.live)
                runtime.gateway = opened.gateway
                runtime.readiness = opened.readiness
                app.state.registry = opened.registry
                app.state.gateway = opened.gateway
                if opened.cache is not None:
                    app.state.cache = opened.cache
                yield
        finally:
            if audit_log is not None:
                audit_log.close()
            if redis is not None:
                await redis.aclose()
            if traces is not None:
                traces.shutdown()

    app = _http_app(
        runtime,
        build_schema(
            settings.limits,
            server,
            settings.cache,
            extensions=(
                [operation_metrics(metrics, traces)]
                if metrics is not None or traces is not None
                else ()
            ),
        ),
        lifespan=lifespan,
        graphiql=settings.server.graphiql,
        clients=build_clients(settings),
        max_body_bytes=settings.server.max_body_bytes,
        request_timeout=settings.server.request_timeout_seconds,
        ide_headers=ide_headers,
        rate_clock=rate_clock,
        redactor=redactor,
        mcp=settings.mcp if settings.mcp.enabled else None,
        max_backend_calls=settings.limits.max_backend_calls,
        metrics=metrics,
        metrics_route=metrics is not None and server.metrics_listen is None,
        persisted=persisted,
        cors_origins=server.cors_origins,
        access_log=server.log_format == "json",
        shared_buckets=SharedBuckets(redis) if redis is not None else None,
        tracing=traces,
        export_days=settings.export.default_days,
    )
    app.state.settings = settings
    app.state.audit = sink
    return app


def gateway_app(
    gateway: Gateway,
    *,
    limits: LimitSettings | None = None,
    server: ServerSettings | None = None,
    cache: CacheSettings | None = None,
    **options: Any,
) -> Starlette:
    """The HTTP surface over an already built gateway (tests over fakes use it), with a schema
    built from ``limits``, ``server`` and ``cache`` (the defaults where omitted).

    ``options`` are ``_http_app``'s: without ``clients``, requests are anonymous with full
    access, answered on loopback only. The gateway writes its own audit trail (if it has one).
    """
    schema = build_schema(limits, server, cache)
    app = _http_app(Runtime(gateway), schema, **options)
    app.state.gateway = gateway
    return app


class Runtime:
    """What the lifespan opens and the requests use: the gateway, once it exists."""

    def __init__(self, gateway: Gateway | None = None) -> None:
        self._gateway = gateway
        self.readiness: Readiness | None = None
        """Each instance's reachability (``/readyz``), once the lifespan has opened them."""

    @property
    def gateway(self) -> Gateway:
        if self._gateway is None:
            raise RuntimeError("the gateway is not running (its lifespan has not started)")
        return self._gateway

    @gateway.setter
    def gateway(self, gateway: Gateway) -> None:
        self._gateway = gateway


def _http_app(
    runtime: Runtime,
    schema: ExecgateSchema,
    *,
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]] | None = None,
    graphiql: bool = True,
    clients: Sequence[Client] = (),
    max_body_bytes: int = ServerSettings().max_body_bytes,
    ide_headers: Mapping[str, str] | None = None,
    rate_clock: Callable[[], float] | None = None,
    redactor: Redactor | None = None,
    request_timeout: float = ServerSettings().request_timeout_seconds,
    mcp: MCPSettings | None = None,
    max_backend_calls: int = LimitSettings().max_backend_calls,
    metrics: Metrics | None = None,
    metrics_route: bool = False,
    persisted: PersistedQueries | None = None,
    cors_origins: Sequence[str] = (),
    access_log: bool = False,
    shared_buckets: SharedBuckets | None = None,
    tracing: Tracing | None = None,
    export_days: int = ExportSettings().default_days,
) -> Starlette:
    directory = ClientDirectory(clients)
    limiter = RateLimiter(clients, rate_clock or time.monotonic, shared_buckets)
    if metrics is not None:
        limiter.refused = metrics.refused
    gate = WebSocketGate(lambda: runtime.gateway, directory, limiter, redactor or Redactor(()))
    graphql = GraphQLApp(
        runtime,
        schema,
        gate=gate,
        request_timeout=request_timeout,
        ide_headers=ide_headers,
        graphql_ide="graphiql" if graphiql else None,
        metrics=metrics,
        persisted=persisted,
    )
    guarded = SecurityMiddleware(
        graphql, directory=directory, limiter=limiter, max_body_bytes=max_body_bytes
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "instances": len(runtime.gateway.backends)})

    async def readyz(request: Request) -> Response:
        """Ready while at least one instance is not known to be unreachable; each instance's
        reachability from its circuit (``service/health.py``: no backend call per probe)."""
        readiness = runtime.readiness
        if readiness is None:
            return JSONResponse({"status": "starting", "instances": {}}, status_code=503)
        instances = readiness.report()
        ready = any(i["reachable"] != "no" for i in instances.values()) or not instances
        return JSONResponse(
            {"status": "ready" if ready else "unready", "instances": instances},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    exports = ExportEndpoint(lambda: runtime.gateway, export_scope, default_days=export_days)
    routes: list[BaseRoute] = [
        # Every method reaches the view, which answers the others with a coded 405.
        Route("/graphql", guarded),
        WebSocketRoute("/graphql", guarded),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route(
            "/export",
            ExportGuard(
                exports, directory=directory, limiter=limiter, max_body_bytes=max_body_bytes
            ),
        ),
    ]
    if graphiql:
        routes.append(Mount(ASSET_ROUTE, StaticFiles(directory=asset_root(), check_dir=False)))
    if metrics is not None and metrics_route:
        routes.append(Route("/metrics", metrics_endpoint(metrics), methods=["GET"]))
    if mcp is not None:
        toolbox = Toolbox(
            gateway=lambda: runtime.gateway,
            throttle=limiter.admit,
            default_instance=mcp.default_instance,
            max_backend_calls=max_backend_calls,
            request_timeout=request_timeout,
        )
        endpoint = MCPEndpoint(build_server(toolbox, request_scope, version=__version__))
        mcp_guard = MCPGuard(
            endpoint, directory=directory, limiter=limiter, max_body_bytes=max_body_bytes
        )
        routes.append(Route("/mcp", mcp_guard, methods=["GET", "POST", "DELETE"]))
        lifespan = _with_endpoint(lifespan, endpoint)
    middleware = [Middleware(RequestIDMiddleware, access_log=access_log)]
    if tracing is not None:
        from execgate.telemetry.tracing import TracingMiddleware

        middleware.append(Middleware(TracingMiddleware, tracing=tracing))
    middleware += cors(cors_origins)
    app = GatewayApp(routes=routes, lifespan=lifespan, middleware=middleware)
    app.websocket = guarded
    app.state.clients = directory
    app.state.limiter = limiter
    app.state.metrics = metrics
    app.state.schema = schema
    return app


class GatewayApp(Starlette):
    """Starlette, with WebSockets on ``/graphql`` handed straight to their guard.

    Every layer an ASGI call passes through stays on the stack for as long as the call lasts,
    which for a live subscription is hours. The middleware (request IDs, CORS, tracing, error
    pages) acts on HTTP only and the router would pick the same guard, so a WebSocket skips
    them: each open subscription then holds the guard's and strawberry's frames, not six more.
    """

    websocket: Any = None
    """The ASGI app of WebSockets on ``/graphql`` (the guarded GraphQL view)."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope["path"] == "/graphql" and self.websocket:
            scope["app"] = self
            await self.websocket(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    REQUEST_ID_HEADER,
    "traceparent",
    "tracestate",
    "mcp-protocol-version",
    "mcp-session-id",
    "last-event-id",
)
"""What a browser page on an allowed origin may send: the client key, the request's media
types, a request ID, the trace context and the MCP transport's headers."""


def cors(origins: Sequence[str]) -> list[Middleware]:
    """Starlette's ``CORSMiddleware`` for ``origins`` (none: no CORS headers at all). Never
    with credentials: a browser sends no cookie, and the client key travels in the
    ``Authorization`` header, which the page sets itself."""
    if not origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=list(CORS_HEADERS),
            expose_headers=[REQUEST_ID_HEADER, "Retry-After", "WWW-Authenticate", "mcp-session-id"],
            allow_credentials=False,
            max_age=600,
        )
    ]


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics``: the registry in Prometheus's text format."""

    async def scrape(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return scrape


def export_scope(scope: Mapping[str, Any]) -> Scope | None:
    """The scope of the client ``ExportGuard`` authenticated for an export."""
    client = scope.get(CLIENT_SCOPE_KEY)
    return client.scope if isinstance(client, Client) else None


def request_scope(request: Any) -> Scope | None:
    """The scope of the client ``MCPGuard`` authenticated for an MCP request."""
    client = getattr(request, "scope", {}).get(CLIENT_SCOPE_KEY)
    return client.scope if isinstance(client, Client) else None


def _with_endpoint(
    lifespan: Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]] | None,
    endpoint: MCPEndpoint,
) -> Callable[[Starlette], contextlib.AbstractAsyncContextManager[None]]:
    """``lifespan``, then the MCP endpoint running inside it."""

    @contextlib.asynccontextmanager
    async def both(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if lifespan is not None:
                await stack.enter_async_context(lifespan(app))
            await stack.enter_async_context(endpoint.running())
            yield

    return both
