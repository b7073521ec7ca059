"""An HTTP/1.1 proxy on 127.0.0.1 in front of one backend, injecting faults by rule.

``FaultProxy(upstream_url)`` runs its own event loop in a daemon thread (like
``BackgroundServer``), so the code under test may live in any thread or loop; every method is
synchronous and thread-safe. Requests are parsed with h11, forwarded to the backend over a
keep-alive connection (one per client connection), and answered from the backend's answer
unless a rule picks a fault (see ``catalogue``), in which case the answer is written as raw
bytes, malformed where the fault says so.

What reached the backend is counted exactly: a request counts once the backend has started
answering it, before anything is sent to the client, so a reset or hang afterwards cannot hide
it. ``forwarded`` lists those request lines in order; ``received`` lists every request the
proxy read, forwarded or not.

    with FaultProxy(server.base_url) as proxy:
        proxy.inject(ResetAfterForward(), on=On.MUTATIONS)
        ...  # a client talks to proxy.url
        assert proxy.count("DELETE") == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import h11

from tests.faults.catalogue import (
    MIB,
    ConnectionClose,
    Endless,
    EndlessHeaders,
    Fault,
    Garbage,
    GzipBomb,
    Hang,
    HtmlPage,
    Http2StatusLine,
    Huge,
    IdleClose,
    Interim,
    Latency,
    On,
    Redirect,
    Refuse,
    ResetAfterForward,
    ResetBeforeForward,
    ResetMidAnswer,
    Rule,
    Truncate,
    WrongStatus,
    endless_chunk,
    forwards,
    garbage,
    gzip_bomb,
    html_page,
    huge_json,
)

Headers = list[tuple[bytes, bytes]]

_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
        b"host",
    }
)
_READ_SIZE = 64 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_INTERIM = {
    100: b"HTTP/1.1 100 Continue\r\n\r\n",
    103: b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n",
}


@dataclass(frozen=True)
class Request:
    """One request read from a client, body de-chunked."""

    method: str
    target: str
    version: str
    headers: Headers
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def line(self) -> str:
        return f"{self.method} {self.target} HTTP/{self.version}"

    @property
    def keep_alive(self) -> bool:
        tokens = {
            token.strip().lower()
            for name, value in self.headers
            if name == b"connection"
            for token in value.split(b",")
        }
        if self.version == "1.1":
            return b"close" not in tokens
        return b"keep-alive" in tokens


@dataclass(frozen=True)
class Answer:
    """The backend's answer: end-to-end headers only, body de-chunked."""

    status: int
    reason: bytes
    headers: Headers
    body: bytes
    declared_length: bytes | None
    """The backend's Content-Length, kept for answers that carry no body (HEAD, 204, 304)."""


class UpstreamFailed(Exception):
    """The backend could not be reached, or closed before answering."""


def _head(line: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    lines = [line, *(name + b": " + value for name, value in headers), b"", b""]
    return b"\r\n".join(lines)


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _status_line(status: int, reason: bytes | None = None, version: bytes = b"1.1") -> bytes:
    text = _reason(status).encode() if reason is None else reason
    return b"HTTP/%s %d %s" % (version, status, text)


def _simple(
    status: int, body: bytes, content_type: bytes, extra: Iterable[tuple[bytes, bytes]] = ()
) -> bytes:
    headers = [
        (b"content-type", content_type),
        (b"content-length", b"%d" % len(body)),
        *extra,
    ]
    return _head(_status_line(status), headers) + body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN: linger on, timeout zero."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def _close(writer: asyncio.StreamWriter) -> None:
    """Close now (FIN), dropping nothing: writes are drained to the kernel before they return.
    The socket is released on the loop's next turn."""
    writer.transport.abort()


class _Client:
    """One client connection: requests parsed by h11, one cycle per fresh h11 connection
    (unparsed bytes carry over), answers written raw."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._pending = b""
        self._eof = False
        # drain() then waits until every byte is in the kernel, so closing loses nothing
        writer.transport.set_write_buffer_limits(high=0)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def stream(self, pieces: Iterable[bytes]) -> None:
        """Send ``pieces`` one by one, yielding to other connections in between."""
        for piece in pieces:
            await self.send(piece)
            await asyncio.sleep(0)

    async def forever(self, piece: bytes, interval_ms: float) -> None:
        """Send ``piece`` every ``interval_ms`` (as fast as the client reads with ``0``) until
        the client leaves (the write fails) or the proxy stops."""
        while True:
            await self.send(piece)
            await asyncio.sleep(interval_ms / 1000)

    async def next_request(self) -> Request | None:
        """The next request, or ``None`` when the client closed between requests."""
        conn = h11.Connection(h11.SERVER)
        if self._pending:
            conn.receive_data(self._pending)
            self._pending = b""
        if self._eof:
            conn.receive_data(b"")
        head: h11.Request | None = None
        body = bytearray()
        continued = False
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue and not continued:
                    await self.send(_CONTINUE)
                    continued = True
                data = await self.reader.read(_READ_SIZE)
                self._eof = not data
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                self._pending, closed = conn.trailing_data
                self._eof = self._eof or closed
                return Request(
                    method=head.method.decode(),
                    target=head.target.decode(),
                    version=head.http_version.decode(),
                    headers=list(head.headers),
                    body=bytes(body),
                )
            elif isinstance(event, h11.ConnectionClosed):
                return None

    async def arrives_within(self, idle_ms: float) -> bool:
        """Whether the client sends something (or closes) within ``idle_ms``."""
        if self._pending or self._eof:
            return True
        if idle_ms <= 0:
            return False
        try:
            data = await asyncio.wait_for(self.reader.read(_READ_SIZE), idle_ms / 1000)
        except TimeoutError:
            return False
        self._pending, self._eof = data, not data
        return True

    async def until_closed(self) -> None:
        while await self.reader.read(_READ_SIZE):
            pass


class _Upstream:
    """A keep-alive HTTP/1.1 connection to the backend, opened on demand and reopened once
    when a reused connection turns out to be closed before answering."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._conn: h11.Connection | None = None

    async def exchange(self, request: Request, answered: Callable[[], None]) -> Answer:
        """Send ``request`` and read the whole answer; ``answered`` runs when its head
        arrives (the backend has received the request)."""
        reused = self._conn is not None
        try:
            return await self._exchange(request, answered)
        except UpstreamFailed:
            if not reused:
                raise
        return await self._exchange(request, answered)

    async def _exchange(self, request: Request, answered: Callable[[], None]) -> Answer:
        head: h11.Response | None = None
        body = bytearray()
        try:
            if self._conn is None:
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
                self._conn = h11.Connection(h11.CLIENT)
            conn, reader, writer = self._conn, self._reader, self._writer
            assert reader is not None and writer is not None
            writer.write(self._request_bytes(conn, request))
            await writer.drain()
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(_READ_SIZE))
                elif isinstance(event, h11.Response):
                    head = event
                    answered()
                elif isinstance(event, h11.Data):
                    body += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        except (OSError, h11.ProtocolError) as exc:
            self.close()
            if head is None:
                raise UpstreamFailed(str(exc)) from exc
            raise
        assert head is not None
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.close()
        declared = next((v for n, v in head.headers if n == b"content-length"), None)
        return Answer(
            status=head.status_code,
            reason=head.reason,
            headers=[(n, v) for n, v in head.headers if n not in _HOP_BY_HOP],
            body=bytes(body),
            declared_length=declared,
        )

    def _request_bytes(self, conn: h11.Connection, request: Request) -> bytes:
        headers = [(b"host", b"%s:%d" % (self._host.encode(), self._port))]
        headers += [(n, v) for n, v in request.headers if n not in _HOP_BY_HOP]
        framed = any(n in (b"content-length", b"transfer-encoding") for n, _ in request.headers)
        if request.body or framed:
            headers.append((b"content-length", b"%d" % len(request.body)))
        out = conn.send(h11.Request(method=request.method, target=request.target, headers=headers))
        if request.body:
            out += conn.send(h11.Data(data=request.body))
        return out + conn.send(h11.EndOfMessage())

    def close(self) -> None:
        writer, self._reader, self._writer, self._conn = self._writer, None, None, None
        if writer is not None:
            _close(writer)


class FaultProxy:
    """A fault-injecting HTTP/1.1 proxy on 127.0.0.1 (port 0: a free one) in front of
    ``upstream`` (``http://host:port``), served from its own thread and event loop.

    ``start()``/``stop()`` or ``with``; ``url`` is where clients connect. Rules: ``inject``,
    ``add``, ``clear``. Counts: ``forwarded``, ``count``, ``counts``, ``received``,
    ``accepted``. ``errors`` holds anything unexpected the proxy met (tests assert it empty).
    """

    def __init__(self, upstream: str, *, port: int = 0) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be http://host:port, not {upstream!r}")
        self.upstream = upstream
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or 80
        self.port = port
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._forwarded: list[Request] = []
        self._received: list[str] = []
        self._accepted = 0
        self._errors: list[BaseException] = []
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._clients: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- rules ----------------------------------------------------------------------------------

    def inject(
        self, fault: Fault, *, on: On = On.ANY, path: str | None = None, times: int | None = 1
    ) -> Rule:
        """Add a rule for ``fault`` (see ``Rule``) and return it (its ``fired`` count grows)."""
        rule = Rule(fault, on=on, path=path, times=times)
        self.add(rule)
        return rule

    def add(self, *rules: Rule) -> None:
        """Append rules; the first unspent rule selecting a request applies to it."""
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        """Remove every rule: requests are forwarded and answered faithfully again."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)

    def _pick(self, request: Request) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if rule.selects(request.method, request.path):
                    rule.fired += 1
                    return rule.fault
        return None

    def _refuses(self) -> bool:
        with self._lock:
            for rule in self._rules:
                if isinstance(rule.fault, Refuse) and not rule.spent:
                    rule.fired += 1
                    return True
        return False

    # --- counts ---------------------------------------------------------------------------------

    @property
    def forwarded(self) -> list[str]:
        """Request lines the backend received, in order (``"DELETE /x/1 HTTP/1.1"``)."""
        with self._lock:
            return [r.line for r in self._forwarded]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests reached the backend, of ``method`` and exactly ``path`` (without
        the query) when given."""
        with self._lock:
            return sum(
                1
                for r in self._forwarded
                if (method is None or r.method == method) and (path is None or r.path == path)
            )

    def counts(self) -> Counter[tuple[str, str]]:
        """Requests that reached the backend by (method, path)."""
        with self._lock:
            return Counter((r.method, r.path) for r in self._forwarded)

    @property
    def received(self) -> list[str]:
        """Request lines of every request the proxy read from a client, in order."""
        with self._lock:
            return list(self._received)

    @property
    def accepted(self) -> int:
        """Client connections accepted (refused ones included)."""
        with self._lock:
            return self._accepted

    @property
    def errors(self) -> list[BaseException]:
        with self._lock:
            return list(self._errors)

    def reset_counts(self) -> None:
        with self._lock:
            self._forwarded.clear()
            self._received.clear()
            self._accepted = 0

    def _counted(self, request: Request) -> Callable[[], None]:
        def record() -> None:
            with self._lock:
                self._forwarded.append(request)

        return record

    # --- life cycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("fault proxy did not start")
        if self._start_error is not None:
            raise RuntimeError("fault proxy did not start") from self._start_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection, and end the thread."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is None or stopping is None or thread is None or not thread.is_alive():
            return
        loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError("fault proxy thread did not stop")

    def stop_listening(self) -> None:
        """Close the listening socket: new connections are refused by the OS (existing ones
        go on). ``start_listening`` reopens the same port."""
        self._call(self._close_listener())

    def start_listening(self) -> None:
        self._call(self._listen())

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coroutine: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _main(self) -> None:
        self._stopping = asyncio.Event()
        try:
            await self._listen()
        except OSError as exc:
            self._start_error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopping.wait()
        await self._close_listener()
        # not "while self._tasks": gathering finished tasks need not yield to the loop, so the
        # callbacks that drop them from the set might never run
        while tasks := [task for task in self._tasks if not task.done()]:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for writer in self._clients:  # accepted, but cancelled before being served
            _close(writer)
        await asyncio.sleep(0)  # let the transports release their sockets

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_listener(self) -> None:
        # close() stops listening at once; wait_closed() would also wait (Python 3.12+) for
        # every accepted connection to end
        server, self._server = self._server, None
        if server is not None:
            server.close()

    # --- serving --------------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Served in a task of our own: cancelling asyncio's callback task at shutdown would
        # make Python 3.11 log a spurious error.
        assert self._stopping is not None
        if self._stopping.is_set():
            _close(writer)
            return
        self._clients.add(writer)
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(reader, writer)
        upstream = _Upstream(self._upstream_host, self._upstream_port)
        try:
            with self._lock:
                self._accepted += 1
            if self._refuses():
                _reset(writer)
                return
            idle_ms: float | None = None
            while idle_ms is None or await client.arrives_within(idle_ms):
                try:
                    request = await client.next_request()
                except h11.RemoteProtocolError:
                    await client.send(_simple(400, b"bad request\n", b"text/plain"))
                    return
                if request is None:
                    return
                with self._lock:
                    self._received.append(request.line)
                fault = self._pick(request)
                if not await self._respond(client, upstream, request, fault):
                    return
                idle_ms = fault.idle_ms if isinstance(fault, IdleClose) else None
        except (OSError, h11.ProtocolError):
            pass  # the client went away, or a fault broke the connection on purpose
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            with self._lock:
                self._errors.append(exc)
        finally:
            upstream.close()
            _close(writer)
            self._clients.discard(writer)

    async def _respond(
        self, client: _Client, upstream: _Upstream, request: Request, fault: Fault | None
    ) -> bool:
        """Forward ``request`` when ``fault`` says so (after its latency), then answer it;
        whether the connection stays open for more."""
        if isinstance(fault, Latency) and fault.before_ms > 0:
            await asyncio.sleep(fault.before_ms / 1000)
        answer: Answer | None = None
        if forwards(fault):
            try:
                answer = await upstream.exchange(request, self._counted(request))
            except UpstreamFailed as exc:
                body = f"upstream failed: {exc}\n".encode()
                await client.send(_simple(502, body, b"text/plain", _connection(False)))
                return False
        if isinstance(fault, Latency) and fault.after_ms > 0:
            await asyncio.sleep(fault.after_ms / 1000)

        return await _answer(client, request, answer, fault, keep=request.keep_alive)


async def _answer(
    client: _Client, request: Request, answer: Answer | None, fault: Fault | None, *, keep: bool
) -> bool:
    """Answer under ``fault`` (``answer``: the backend's, when forwarded); whether the
    connection stays open for more requests."""

    def backend() -> Answer:
        assert answer is not None, f"{fault!r} needs the backend's answer"
        return answer

    match fault:
        case None | Latency() | IdleClose():
            await client.send(_faithful(request, backend(), keep=keep))
        case Hang():
            await client.until_closed()
            return False
        case ResetBeforeForward() | ResetAfterForward():
            _reset(client.writer)
            return False
        case ResetMidAnswer(after_bytes=after, pause_ms=pause):
            body = backend().body
            head = _faithful(request, backend(), keep=keep, body=False)
            await client.send(head + body[: len(body) // 2 if after is None else after])
            await asyncio.sleep(pause / 1000)
            _reset(client.writer)
            return False
        case Truncate(keep_bytes=kept):
            promised = max(len(backend().body), 1)
            sent = min(promised // 2 if kept is None else kept, promised - 1)
            headers = [*backend().headers, (b"content-length", b"%d" % promised)]
            head = _head(_status_line(backend().status, backend().reason), headers)
            await client.send(head + backend().body[:sent])
            return False
        case ConnectionClose():
            await client.send(_faithful(request, backend(), keep=False))
            return False
        case HtmlPage(status=status):
            page = html_page(status, _reason(status))
            await client.send(_simple(status, page, b"text/html", _connection(keep)))
        case Garbage(whole_answer=True, size=size, seed=seed):
            await client.send(garbage(size, seed))
            return False
        case Garbage(size=size, status=status, seed=seed):
            body = garbage(size, seed)
            await client.send(_simple(status, body, b"application/json", _connection(keep)))
        case Huge(megabytes=megabytes):
            size = max(11, int(megabytes * MIB))
            headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % size)]
            await client.send(_head(_status_line(200), headers + _connection(keep)))
            await client.stream(huge_json(size))
        case GzipBomb():
            headers = [
                (b"content-type", b"application/json"),
                (b"content-encoding", b"gzip"),
                (b"content-length", b"%d" % fault.compressed_bytes),
                *_connection(keep),
            ]
            await client.send(_head(_status_line(200), headers))
            await client.stream(gzip_bomb(fault.blocks))
        case Endless(chunk_bytes=size, interval_ms=interval):
            headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
            await client.send(_head(_status_line(200), headers) + b'9\r\n{"data":[\r\n')
            await client.forever(b"%x\r\n%s\r\n" % (size, endless_chunk(size)), interval)
        case EndlessHeaders(line_bytes=width, lines=lines, interval_ms=interval):
            await client.send(_status_line(200) + b"\r\n")
            names = [b"X-Pad-%04d: " % number for number in range(lines)]
            block = b"".join(n + b"x" * max(1, width - len(n) - 2) + b"\r\n" for n in names)
            await client.forever(block, interval)
        case Interim(statuses=statuses):
            interim = b"".join(_INTERIM.get(s, _head(_status_line(s), [])) for s in statuses)
            await client.send(interim + _faithful(request, backend(), keep=keep))
        case Redirect(location=location, status=status):
            headers = [(b"location", location.encode()), (b"content-length", b"0")]
            await client.send(_head(_status_line(status), headers + _connection(keep)))
        case Http2StatusLine():
            line = _status_line(backend().status, backend().reason, version=b"2.0")
            await client.send(_faithful(request, backend(), keep=keep, line=line))
        case WrongStatus(status=status, reason=reason):
            line = f"HTTP/1.1 {status} {reason}".encode()
            await client.send(_faithful(request, backend(), keep=keep, line=line))
        case Refuse():
            raise AssertionError("Refuse is applied when a connection is accepted")
    return keep


def _connection(keep: bool) -> Headers:
    return [(b"connection", b"keep-alive" if keep else b"close")]


def _faithful(
    request: Request, answer: Answer, *, keep: bool, body: bool = True, line: bytes | None = None
) -> bytes:
    """The backend's answer re-framed with Content-Length (``body=False``: head only)."""
    headers = list(answer.headers)
    bodyless = request.method == "HEAD" or answer.status in (204, 304)
    if bodyless:
        if answer.declared_length is not None:
            headers.append((b"content-length", answer.declared_length))
    else:
        headers.append((b"content-length", b"%d" % len(answer.body)))
    head = _head(line or _status_line(answer.status, answer.reason), headers + _connection(keep))
    return head if bodyless or not body else head + answer.body
