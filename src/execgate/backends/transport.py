"""The seam between the adapters and the network: one request in, one bounded answer out.

``BackendHTTP`` hands a ``Request`` to a ``Transport`` and gets a ``Response`` whose body has
been read whole, decompressed, and never past ``Request.max_bytes``. The gateway's transport
is ``backends.aio.AiohttpTransport`` (sockets, TLS, proxies); the embedded demo and tests plug
an in-process one (``simulate.inprocess``) into the same seam. A transport sends a request at
most once: retrying is ``BackendHTTP``'s decision alone.

A transport fails with one of these, and ``BackendHTTP`` maps them to the domain's error tree:

    TransportError                 the exchange did not produce a usable answer
    ├── ConnectFailed              no connection: refused, unreachable, DNS, TLS handshake
    │                              (the backend cannot have received the request)
    ├── TimedOut                   no complete answer within the request's time
    ├── ConnectionLost             the connection closed or reset before the answer was whole
    ├── BadAnswer                  bytes that are not an HTTP/1.1 answer, or headers past the
    │                              limits
    └── AnswerTooLarge             a body (after decompression) larger than ``max_bytes``

``sent`` tells whether the backend may have received the request: false only when it cannot
have (no connection was made). For a mutation, a failure with ``sent`` means the outcome is
unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    """Absolute, with the query already encoded."""
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    """Seconds for the whole exchange: waiting for a free connection, connecting, sending, and
    reading the last byte."""
    connect_timeout: float
    max_bytes: int
    mutation: bool
    """A mutation goes out on a connection of its own, never one that sat idle in a pool."""


@dataclass(frozen=True, slots=True)
class Response:
    status_code: int
    headers: Mapping[str, str]
    """Looked up by lower-case name (the gateway's transport: case-insensitively)."""
    content: bytes | bytearray

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not."""
        return orjson.loads(self.content)


class Transport(Protocol):
    """Sends requests, at most as many at once as it was opened for (the instance's
    ``max_concurrency``); the others wait for a free connection within their time."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


class TransportError(Exception):
    """Base of the transport's failures; the message holds no URL and no credential."""

    sent = True

    def __init__(self, message: str, *, sent: bool | None = None) -> None:
        super().__init__(message)
        self.message = message
        if sent is not None:
            self.sent = sent


class ConnectFailed(TransportError):
    sent = False


class TimedOut(TransportError):
    pass


class ConnectionLost(TransportError):
    pass


class BadAnswer(TransportError):
    pass


class AnswerTooLarge(TransportError):
    pass
