"""``X-Request-ID``: accepted from the caller (or made), set for the request, and returned.

``RequestIDMiddleware`` wraps the whole app. A caller's ``X-Request-ID`` that is a safe token
(``telemetry.context.accepted_request_id``) is kept, anything else replaced by a fresh one; it
is set in ``telemetry.context`` while the request is served — so it reaches the log lines, the
audit lines and every backend request made for it — and returned as ``X-Request-ID`` on the
answer. With ``access_log``, each request ends with one log line (logger ``execgate.access``):
method, path, status and duration, and the request's ID and client.
"""

from __future__ import annotations

import logging
import time

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execgate.telemetry import context

access = logging.getLogger("execgate.access")


class RequestIDMiddleware:
    def __init__(self, app: ASGIApp, *, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = context.accepted_request_id(
            Headers(scope=scope).get(context.REQUEST_ID_HEADER)
        )
        status = 500
        started = time.perf_counter()

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[context.REQUEST_ID_HEADER] = request_id
            await send(message)

        tokens = (
            context.request_id.set(request_id),
            context.client_name.set(None),
            context.operation_name.set(None),
        )
        try:
            await self.app(scope, receive, with_id)
        finally:
            if self.access_log:
                access.info(
                    "%s %s %d",
                    scope.get("method", "?"),
                    scope.get("path", "?"),
                    status,
                    extra={
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            context.operation_name.reset(tokens[2])
            context.client_name.reset(tokens[1])
            context.request_id.reset(tokens[0])
