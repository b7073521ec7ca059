"""Building an instance's ``BackendHTTP`` in tests, over the network or over a double.

``backend_http`` wires one the way the registry does (the same ``Policy`` from the same
settings), over aiohttp or over any transport handed in: the in-process one for a simulator
(``InProcessTransport``), or ``Scripted`` for a handler that answers each request itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from execgate.backends.http import BackendHTTP
from execgate.backends.transport import AnswerTooLarge, Request, Response, Transport
from execgate.config import HTTPSettings, InstanceSettings
from execgate.domain.models import BackendKind
from execgate.registry import network_transport, open_backend

Handler = Callable[[httpx.Request], httpx.Response]


class Scripted:
    """A transport whose answers come from ``handler`` (an ``httpx.Request`` in, an
    ``httpx.Response`` out); ``sent`` keeps every request."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        answer = self.handler(
            httpx.Request(
                request.method, request.url, headers=dict(request.headers), content=request.body
            )
        )
        body = answer.read()
        if len(body) > request.max_bytes:
            raise AnswerTooLarge("answer too large")
        return Response(answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, body)

    async def aclose(self) -> None:
        return None


def backend_http(
    name: str,
    base_url: str,
    headers: Mapping[str, str],
    transport: Transport | None = None,
    http: HTTPSettings | None = None,
) -> BackendHTTP:
    """A ``BackendHTTP`` as the registry builds it; the network unless ``transport`` is given."""
    instance = InstanceSettings(
        name, BackendKind.N8N, base_url, "unused", None, http or HTTPSettings()
    )
    client = open_backend(instance, transport or network_transport(instance))[1]
    client.headers = dict(headers)
    return client
