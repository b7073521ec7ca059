"""A lean HTTP/1.1 client for backend reads: pooled keep-alive connections parsed by httptools.

For the small JSON reads the adapters make, aiohttp's request path (request and response
objects, timers, tracing hooks, cookie handling) costs about as much CPU again as the exchange
itself: ``bench/transports.py`` measures 158 to 172 µs of client CPU per detail read here against
283 to 349 µs through aiohttp. ``BackendHTTP`` sends its GETs through a ``ReadPool`` (transport
``http11``, the default) and everything else, mutations included, through aiohttp.

One pool per instance. ``BackendHTTP`` bounds the requests in flight, so the pool opens a
connection whenever none is idle and keeps answered ones for ``keepalive_seconds``. A GET
whose pooled connection turns out closed by the server before any byte of the answer arrived
is sent once more on a new connection (a GET is idempotent; aiohttp does the same). A
connection whose exchange failed, timed out or was cancelled is closed, never reused.

Failures come back as httpx's own exceptions, so ``backends/http.py`` maps them unchanged:

    connect timeout                               → httpx.ConnectTimeout
    refused, DNS, unreachable (OSError)           → httpx.ConnectError
    no complete answer within the read timeout    → httpx.ReadTimeout
    connection lost before the answer was whole   → httpx.ReadError
    an answer that is not HTTP/1.1                → httpx.RemoteProtocolError
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping

import httptools
import httpx
import yarl

Answer = tuple[int, list[tuple[str, str]], bytes]


class _Lost(Exception):
    """The connection closed before the answer was complete."""

    def __init__(self, received: bool) -> None:
        super().__init__("the connection closed before the answer was complete")
        self.received = received


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one exchange at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[Answer, bool]] | None = None
        self.headers: list[tuple[str, str]] = []
        self.body: list[bytes] = []
        self.received = False
        self.headers_done = False
        self.closed = False
        self.idle_since = 0.0

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.received = True
        if self.waiter is None:
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(httpx.RemoteProtocolError("the backend's answer is not valid HTTP/1.1"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is None and self.headers_done and not self._framed():
            # No length and not chunked: the body ran until the server closed the connection.
            self.on_message_complete()
            return
        self._fail(_Lost(self.received))

    def _framed(self) -> bool:
        """Whether the answer's headers say where its body ends (length or chunks)."""
        return any(
            name.lower() in ("content-length", "transfer-encoding") for name, _ in self.headers
        )

    # -- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            answer = (self.parser.get_status_code(), self.headers, b"".join(self.body))
            waiter.set_result((answer, self.parser.should_keep_alive()))

    # --

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def exchange(self, request: bytes, read_timeout: float | None) -> tuple[Answer, bool]:
        """Send ``request`` and wait for the whole answer; (answer, whether to keep alive)."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[tuple[Answer, bool]] = loop.create_future()
        self.waiter = waiter
        self.headers, self.body, self.received, self.headers_done = [], [], False, False
        self.transport.write(request)
        timer = None
        if read_timeout is not None:
            timer = loop.call_later(read_timeout, self._fail, httpx.ReadTimeout("timed out"))
        try:
            return await waiter
        finally:
            if timer is not None:
                timer.cancel()


class ReadPool:
    """Keep-alive connections to one backend, for GETs."""

    def __init__(self, base_url: str, *, keepalive_seconds: float = 15.0) -> None:
        url = yarl.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("the read pool speaks to http:// and https:// URLs only")
        self.host = url.host
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.ssl: ssl.SSLContext | None = None
        if url.scheme == "https":
            self.ssl = ssl.create_default_context()
        self.keepalive_seconds = keepalive_seconds
        self._prefix = url.raw_path.rstrip("/")
        host = url.raw_host or self.host
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal
        if url.explicit_port is not None:
            host = f"{host}:{url.explicit_port}"
        self._host_line = f"Host: {host}\r\n".encode("ascii")
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self.connections_made = 0
        """Connections opened so far (tests read it)."""

    def head(self, headers: list[tuple[str, str]]) -> bytes:
        """The header lines every request of a client carries, encoded once."""
        lines = []
        for name, value in headers:
            if any(c in name or c in value for c in "\r\n"):
                raise ValueError("a header name or value holds a line break")
            lines.append(f"{name}: {value}\r\n")
        return "".join(lines).encode("latin-1")

    def target(self, path: str, params: Mapping[str, str] | None) -> str:
        """The request target, encoded as aiohttp would send it."""
        url = yarl.URL(self._prefix + path)
        if params:
            url = url.with_query(params)
        return url.raw_path_qs

    async def get(
        self,
        path: str,
        params: Mapping[str, str] | None,
        head: bytes,
        *,
        connect: float | None,
        read: float | None,
    ) -> Answer:
        request = b"".join(
            (
                b"GET ",
                self.target(path, params).encode("ascii"),
                b" HTTP/1.1\r\n",
                self._host_line,
                head,
                b"\r\n",
            )
        )
        connection = self._take_idle()
        reused = connection is not None
        for _ in range(2):
            if connection is None:
                connection = await self._connect(connect)
            try:
                answer, keep_alive = await connection.exchange(request, read)
            except _Lost as lost:
                self._discard(connection)
                if reused and not lost.received:
                    connection, reused = None, False
                    continue  # the server had closed the idle connection: once more, anew
                raise httpx.ReadError(str(lost)) from None
            except BaseException:
                self._discard(connection)
                raise
            if keep_alive and not connection.closed:
                connection.idle_since = time.monotonic()
                self._idle.append(connection)
            else:
                self._discard(connection)
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _take_idle(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_seconds:
                return connection
            self._discard(connection)
        return None

    async def _connect(self, timeout: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.host if self.ssl is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting") from None
        except OSError as exc:
            raise httpx.ConnectError(exc.strerror or type(exc).__name__) from None
        self.connections_made += 1
        self._open.add(connection)
        return connection

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    async def aclose(self) -> None:
        for connection in list(self._open):
            self._discard(connection)
        self._idle.clear()
