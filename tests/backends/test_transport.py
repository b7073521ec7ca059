"""The aiohttp-backed httpx transport over real sockets: bodies, headers, errors, timeouts."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from execgate.backends.http import HTTPSettings, RawAnswer, open_http
from execgate.backends.transport import AiohttpTransport
from execgate.simulate.server import BackgroundServer, free_port


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "auth": request.headers.get("x-n8n-api-key"),
            "query": dict(request.query_params),
            "body": body.decode(),
        },
        status_code=int(request.query_params.get("status", "200")),
    )


async def slow(request: Request) -> Response:
    await asyncio.sleep(2)
    return JSONResponse({"late": True})


async def big(request: Request) -> Response:
    return JSONResponse({"items": ["x" * 100] * 500})


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "DELETE"]),
        Route("/slow", slow),
        Route("/big", big),
    ],
    middleware=[Middleware(GZipMiddleware, minimum_size=100)],
)


@pytest.fixture(scope="module")
def server() -> BackgroundServer:
    with BackgroundServer(APP) as running:
        yield running


def _client(base_url: str, **kwargs: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        transport=AiohttpTransport(max_connections=4),
        headers={"X-N8N-API-KEY": "secret"},
        timeout=httpx.Timeout(kwargs.get("read", 5.0), connect=1.0),
    )


async def test_round_trip_keeps_method_headers_query_body_and_status(
    server: BackgroundServer,
) -> None:
    async with _client(server.base_url) as client:
        got = await client.post("/echo", params={"a": "1", "status": "409"}, json={"k": "v"})
        assert got.status_code == 409
        assert got.json() == {
            "method": "POST",
            "auth": "secret",
            "query": {"a": "1", "status": "409"},
            "body": '{"k":"v"}',
        }
        deleted = await client.delete("/echo")
        assert deleted.json()["method"] == "DELETE" and deleted.json()["body"] == ""


async def test_compressed_answers_are_decoded(server: BackgroundServer) -> None:
    async with _client(server.base_url) as client:
        got = await client.get("/big", headers={"Accept-Encoding": "gzip"})
        assert got.headers.get("content-encoding") == "gzip"
        assert len(got.json()["items"]) == 500


async def test_many_concurrent_requests_share_the_pool(server: BackgroundServer) -> None:
    async with _client(server.base_url) as client:
        answers = await asyncio.gather(
            *(client.get("/echo", params={"i": str(i)}) for i in range(40))
        )
    assert [a.json()["query"]["i"] for a in answers] == [str(i) for i in range(40)]


async def test_a_slow_answer_is_a_read_timeout(server: BackgroundServer) -> None:
    async with _client(server.base_url, read=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/slow")


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with _client(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/echo")


async def test_a_server_that_hangs_up_is_a_read_error() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def hang_up() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        async with _client(f"http://127.0.0.1:{port}") as client:
            with pytest.raises(httpx.TransportError):
                await client.get("/echo")
    finally:
        thread.join(timeout=5)
        listener.close()


async def test_backend_requests_answer_status_body_and_headers_on_demand(
    server: BackgroundServer,
) -> None:
    # given: a BackendHTTP whose requests go through the aiohttp transport directly
    settings = HTTPSettings(transport="aiohttp")
    http = open_http("echo", server.base_url, {"X-N8N-API-KEY": "secret"}, settings)
    assert http._direct is not None and http._reads is None

    # when
    try:
        answer = await http.request("GET", "/echo", params={"page": 2, "all": True})
        refused = await http.request("GET", "/echo", params={"status": 404})
    finally:
        await http.aclose()

    # then: status and body as sent; headers and httpx's decoding built only when read
    assert isinstance(answer, RawAnswer) and answer._response is None
    assert answer.status_code == 200
    assert http.json(answer) == {
        "method": "GET",
        "auth": "secret",
        "query": {"page": "2", "all": "true"},
        "body": "",
    }
    assert answer._response is None
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["auth"] == "secret"
    assert refused.status_code == 404
