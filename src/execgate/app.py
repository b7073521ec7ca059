"""The Starlette application: /graphql (GraphiQL in a browser) and /healthz.

``create_app`` builds the registry (one httpx client per instance) up front; the lifespan closes
the clients when the server stops.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from execgate.api.context import Context, build_context
from execgate.api.errors import ensure_codes
from execgate.api.schema import schema
from execgate.service.cache import CachedBackend, CacheSettings, ExecutionCache
from execgate.service.gateway import Gateway

if TYPE_CHECKING:
    from execgate.config import Settings


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.gateway = gateway

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)

    async def get_context(self, request: Any, response: Any) -> Context:
        return build_context(self.gateway, request)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        if result.errors:
            result.errors = ensure_codes(result.errors)
        return await super().process_result(request, result)


def create_app(
    settings: Settings,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    graphiql: bool = True,
    cache_settings: CacheSettings | None = None,
) -> Starlette:
    """The gateway over the instances of ``settings`` (``transports`` replace sockets)."""
    from execgate.registry import Registry

    registry = Registry.from_settings(settings, transports)
    cache = ExecutionCache(cache_settings)
    backends = {name: CachedBackend(b, cache) for name, b in registry.backends.items()}
    gateway = Gateway(backends, max_first=settings.max_first)
    app = gateway_app(gateway, on_close=registry.aclose, graphiql=graphiql)
    app.state.registry = registry
    app.state.settings = settings
    app.state.cache = cache
    return app


def gateway_app(
    gateway: Gateway,
    *,
    on_close: Callable[[], Awaitable[None]] | None = None,
    graphiql: bool = True,
) -> Starlette:
    """The HTTP surface over an already built gateway."""
    graphql = GraphQLApp(gateway, graphql_ide="graphiql" if graphiql else None)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "instances": len(gateway.backends)})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                await on_close()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
