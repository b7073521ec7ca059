"""``/mcp``: the server over the SDK's streamable HTTP transport, as an ASGI endpoint.

Stateless (no ``Mcp-Session-Id``; every request stands alone, so replicas behind a load
balancer need nothing shared) and answering JSON rather than event streams. The app mounts it
behind its guard (client key, body size) and runs ``running()`` in its lifespan: the SDK's
session manager runs once per lifespan, so each run makes a fresh one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.types import Receive, Scope, Send


class MCPEndpoint:
    def __init__(self, server: Server[Any]) -> None:
        self.server = server
        self._manager: StreamableHTTPSessionManager | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        manager = StreamableHTTPSessionManager(app=self.server, stateless=True, json_response=True)
        async with manager.run():
            self._manager = manager
            try:
                yield
            finally:
                self._manager = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None:
            raise RuntimeError("the MCP endpoint is not running (its lifespan has not started)")
        await self._manager.handle_request(scope, receive, send)
