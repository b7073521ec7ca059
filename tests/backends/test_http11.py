"""The read pool over real sockets: answers, keep-alive, stale connections, errors, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest
import yarl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from execgate.backends.http import HTTPSettings, open_http
from execgate.backends.http11 import ReadPool
from execgate.simulate.server import BackgroundServer, free_port

HEAD = b"X-N8N-API-KEY: secret\r\n"


async def echo(request: Request) -> Response:
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": dict(request.query_params),
            "auth": request.headers.get("x-n8n-api-key"),
            "encoding": request.headers.get("accept-encoding"),
        },
        status_code=int(request.query_params.get("status", "200")),
    )


async def chunked(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b'{"items": [', b"1, 2", b", 3]}"):
            yield part

    return StreamingResponse(parts(), media_type="application/json")


async def closing(request: Request) -> Response:
    return JSONResponse({"bye": True}, headers={"Connection": "close"})


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return JSONResponse({"late": True})


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST"]),
        Route("/prefix/echo", echo),
        Route("/chunked", chunked),
        Route("/closing", closing),
        Route("/slow", slow),
    ]
)


@pytest.fixture(scope="module")
def server() -> BackgroundServer:
    with BackgroundServer(APP) as running:
        yield running


async def _get(pool: ReadPool, path: str, read: float = 5.0, **params: str) -> tuple[int, bytes]:
    status, _, body = await pool.get(path, params or None, HEAD, connect=1.0, read=read)
    return status, body


async def test_answers_keep_status_body_headers_and_reuse_one_connection(
    server: BackgroundServer,
) -> None:
    pool = ReadPool(server.base_url)
    try:
        status, headers, body = await pool.get(
            "/echo", {"a": "1 2", "status": "409"}, HEAD, connect=1.0, read=5.0
        )
        again = [await _get(pool, "/echo", i=str(i)) for i in range(3)]
    finally:
        await pool.aclose()

    assert status == 409
    assert ("content-type", "application/json") in [(k.lower(), v) for k, v in headers]
    assert httpx.Response(200, content=body).json() == {
        "method": "GET",
        "path": "/echo",
        "query": {"a": "1 2", "status": "409"},
        "auth": "secret",
        "encoding": None,
    }
    assert [s for s, _ in again] == [200, 200, 200]
    assert pool.connections_made == 1


async def test_chunked_answers_are_read_whole(server: BackgroundServer) -> None:
    pool = ReadPool(server.base_url)
    try:
        status, body = await _get(pool, "/chunked")
    finally:
        await pool.aclose()
    assert (status, body) == (200, b'{"items": [1, 2, 3]}')


async def test_concurrent_reads_each_get_their_own_answer(server: BackgroundServer) -> None:
    pool = ReadPool(server.base_url)
    try:
        answers = await asyncio.gather(*(_get(pool, "/echo", i=str(i)) for i in range(24)))
        then = await _get(pool, "/echo", i="after")
    finally:
        await pool.aclose()
    got = [httpx.Response(200, content=body).json()["query"]["i"] for _, body in answers]
    assert got == [str(i) for i in range(24)]
    assert then[0] == 200
    assert pool.connections_made <= 24


async def test_a_connection_the_server_closes_is_not_reused(server: BackgroundServer) -> None:
    pool = ReadPool(server.base_url)
    try:
        first = await _get(pool, "/closing")
        second = await _get(pool, "/echo")
    finally:
        await pool.aclose()
    assert (first[0], second[0]) == (200, 200)
    assert pool.connections_made == 2


async def test_the_base_urls_path_prefixes_every_target(server: BackgroundServer) -> None:
    pool = ReadPool(server.base_url + "/prefix/")
    try:
        status, body = await _get(pool, "/echo", q="x")
    finally:
        await pool.aclose()
    assert status == 200
    assert httpx.Response(200, content=body).json()["path"] == "/prefix/echo"


def test_targets_are_encoded_as_aiohttp_sends_them() -> None:
    pool = ReadPool("http://127.0.0.1:1")
    params = {"cursor": "eyJsYXN0SWQiOiIxIn0+/=", "at": "2026-01-02T03:04:05.000Z", "s": "a b&c"}

    target = pool.target("/api/v1/executions", params)

    assert target == yarl.URL("/api/v1/executions").with_query(params).raw_path_qs
    assert "%2B" in target and "%3D" in target and "%26" in target
    assert pool.target("/api/executions/a%2Fb", None) == "/api/executions/a%2Fb"


def test_a_header_with_a_line_break_is_refused() -> None:
    pool = ReadPool("http://127.0.0.1:1")
    with pytest.raises(ValueError, match="line break"):
        pool.head([("Authorization", "Bearer x\r\nX-Injected: 1")])
    assert pool.head([("A", "1"), ("B", "2")]) == b"A: 1\r\nB: 2\r\n"


def test_only_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError):
        ReadPool("ftp://127.0.0.1/")


# -- failures ----------------------------------------------------------------------------------

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@asynccontextmanager
async def _raw_pool(handler: Handler) -> AsyncIterator[tuple[ReadPool, list[int]]]:
    """A read pool on a raw TCP server on 127.0.0.1; the list counts the server's connections."""
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    listener = await asyncio.start_server(counted, "127.0.0.1", 0)
    pool = ReadPool(f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}")
    try:
        yield pool, connections
    finally:
        await pool.aclose()
        listener.close()


async def test_a_read_on_a_connection_the_server_dropped_is_sent_once_more() -> None:
    # given: a server that answers one request per connection and hangs up on the next one
    # unanswered (a keep-alive timeout racing with the request)
    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")

    async with _raw_pool(one_answer) as (pool, connections):
        # when
        first = await _get(pool, "/a")
        second = await _get(pool, "/b")

    # then: both answered, the second on a new connection
    assert first == second == (200, b"{}")
    assert len(connections) == 2
    assert pool.connections_made == 2


async def test_a_connection_closed_while_idle_is_not_taken() -> None:
    async def one_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await writer.drain()

    async with _raw_pool(one_answer) as (pool, connections):
        await _get(pool, "/a")
        await asyncio.sleep(0.1)  # the hang-up reaches the pool
        second = await _get(pool, "/b")
    assert second == (200, b"{}")
    assert len(connections) == 2


async def test_a_connection_lost_in_the_middle_of_an_answer_is_a_read_error() -> None:
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()

    async with _raw_pool(half) as (pool, connections):
        with pytest.raises(httpx.ReadError):
            await _get(pool, "/a")
    assert len(connections) == 1  # not sent again: part of an answer had arrived


async def test_an_answer_without_length_ends_where_the_server_closes() -> None:
    async def unframed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        writer.write(b'{"items": ')
        await writer.drain()
        writer.write(b"[1, 2]}")
        await writer.drain()

    async with _raw_pool(unframed) as (pool, connections):
        first = await _get(pool, "/a")
        second = await _get(pool, "/b")
    assert first == second == (200, b'{"items": [1, 2]}')
    assert len(connections) == 2  # such a connection is never reused


async def test_an_answer_that_is_not_http_is_a_protocol_error() -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)

    async with _raw_pool(garbage) as (pool, _):
        with pytest.raises(httpx.RemoteProtocolError):
            await _get(pool, "/a")


async def test_a_slow_answer_is_a_read_timeout_and_its_connection_is_dropped(
    server: BackgroundServer,
) -> None:
    pool = ReadPool(server.base_url)
    try:
        with pytest.raises(httpx.ReadTimeout):
            await _get(pool, "/slow", read=0.2)
        after = await _get(pool, "/echo")
    finally:
        await pool.aclose()
    assert after[0] == 200
    assert pool.connections_made == 2


async def test_a_cancelled_read_drops_its_connection(server: BackgroundServer) -> None:
    pool = ReadPool(server.base_url)
    try:
        task = asyncio.create_task(_get(pool, "/slow"))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        after = await _get(pool, "/echo")
    finally:
        await pool.aclose()
    assert after[0] == 200
    assert pool.connections_made == 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    pool = ReadPool(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(httpx.ConnectError):
        await _get(pool, "/echo")


# -- through BackendHTTP -----------------------------------------------------------------------


async def test_backend_reads_take_the_pool_and_mutations_take_aiohttp(
    server: BackgroundServer,
) -> None:
    # given: the default transport setting
    http = open_http("echo", server.base_url, {"X-N8N-API-KEY": "secret"}, HTTPSettings())
    pool = http._reads
    assert pool is not None

    # when
    try:
        read = await http.request("GET", "/echo", params={"page": 2, "all": True})
        made_by_reads = pool.connections_made
        posted = await http.request("POST", "/echo", json={"k": "v"}, mutation=True)
    finally:
        await http.aclose()

    # then
    assert http.json(read) == {
        "method": "GET",
        "path": "/echo",
        "query": {"page": "2", "all": "true"},
        "auth": "secret",
        "encoding": None,  # bodies are handed over as they come, so none is asked compressed
    }
    assert http.json(posted)["method"] == "POST" and http.json(posted)["encoding"] is None
    assert made_by_reads == 1 and pool.connections_made == 1
    assert read.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("setting", "pooled_reads", "direct"),
    [("http11", True, True), ("aiohttp", False, True), ("httpx", False, False)],
)
async def test_each_transport_setting_builds_its_own_path(
    setting: str, pooled_reads: bool, direct: bool
) -> None:
    http = open_http("x", "http://127.0.0.1:1", {}, HTTPSettings(transport=setting))
    try:
        assert (http._reads is not None, http._direct is not None) == (pooled_reads, direct)
    finally:
        await http.aclose()


async def test_a_given_transport_carries_everything() -> None:
    double = httpx.MockTransport(lambda request: httpx.Response(200, json={"via": "double"}))
    http = open_http("x", "http://backend.test", {}, HTTPSettings(), double)
    try:
        answer = await http.request("GET", "/anything")
    finally:
        await http.aclose()
    assert http.json(answer) == {"via": "double"}
