"""An in-process transport: backend requests answered by an ASGI app in the same process.

The embedded demo and many tests serve the simulators this way, without sockets. It plugs
into the same seam as the gateway's own transport (``backends.transport``), and keeps its
rules: the body is bounded by ``Request.max_bytes`` and the time by ``Request.timeout``. The
ASGI call itself is httpx's ``ASGITransport``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from execgate.backends.transport import AnswerTooLarge, Request, Response, TimedOut


class InProcessTransport:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._asgi = httpx.ASGITransport(app=app)

    async def send(self, request: Request) -> Response:
        outgoing = httpx.Request(
            request.method, request.url, headers=dict(request.headers), content=request.body
        )
        try:
            async with asyncio.timeout(request.timeout):
                answer = await self._asgi.handle_async_request(outgoing)
                body = await answer.aread()
        except TimeoutError:
            raise TimedOut("no complete answer in time") from None
        if len(body) > request.max_bytes:
            raise AnswerTooLarge("answer too large (see max_response_mb)")
        headers = {k.lower(): v for k, v in answer.headers.items()}
        return Response(answer.status_code, headers, body)

    async def aclose(self) -> None:
        await self._asgi.aclose()
