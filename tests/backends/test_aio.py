"""The gateway's transport over real sockets: what real networks and odd backends send.

Servers here are uvicorn (Starlette apps, with TLS from a private CA made by ``trustme``), a
real HTTP proxy (``proxy.py``, in its own process), and ``RawServer`` for the bytes a framework
will not send. Every request that reaches a server is counted there.
"""

from __future__ import annotations

import asyncio
import gzip
import os
import socket
import ssl
import subprocess
import sys
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from execgate.backends.aio import TLS, AiohttpTransport, own_answers_guard, proxy_for
from execgate.backends.transport import (
    AnswerTooLarge,
    BadAnswer,
    ConnectFailed,
    ConnectionLost,
    Request,
    TimedOut,
)
from execgate.config import HTTPSettings
from execgate.simulate.server import BackgroundServer, free_port
from tests.backends.raw_server import RawServer, Reply, answer
from tests.transports import backend_http

SEEN: list[str] = []


async def echo(request: StarletteRequest) -> Response:
    SEEN.append(f"{request.method} {request.url.path}")
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "key": request.headers.get("x-n8n-api-key"),
            "query": dict(request.query_params),
            "body": body.decode(),
            "peer_cert": bool(request.scope.get("extensions", {}).get("tls")),
        },
        status_code=int(request.query_params.get("status", "200")),
    )


async def closing(request: StarletteRequest) -> Response:
    SEEN.append("close")
    return JSONResponse({"closing": True}, headers={"Connection": "close"})


APP = Starlette(
    routes=[
        Route("/echo", echo, methods=["GET", "POST", "DELETE"]),
        Route("/close", closing),
    ]
)


def request(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    mutation: bool = False,
    timeout: float = 5.0,
    max_bytes: int = 1 << 20,
    headers: dict[str, str] | None = None,
) -> Request:
    return Request(method, url, headers or {}, body, timeout, 1.0, max_bytes, mutation)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(APP) as running:
        yield running


# -- the exchange --------------------------------------------------------------------------


async def test_round_trip_keeps_method_headers_query_body_and_status(
    server: BackgroundServer,
) -> None:
    transport = AiohttpTransport(max_connections=4)
    try:
        got = await transport.send(
            request(
                f"{server.base_url}/echo?a=1&status=409",
                method="POST",
                body=b'{"k":"v"}',
                headers={"X-N8N-API-KEY": "secret", "Content-Type": "application/json"},
                mutation=True,
            )
        )
        deleted = await transport.send(request(f"{server.base_url}/echo", method="DELETE"))
    finally:
        await transport.aclose()
    assert got.status_code == 409
    assert got.json() == {
        "method": "POST",
        "key": "secret",
        "query": {"a": "1", "status": "409"},
        "body": '{"k":"v"}',
        "peer_cert": False,
    }
    assert got.headers["content-type"] == "application/json"
    assert deleted.json()["method"] == "DELETE"


async def test_many_concurrent_requests_share_the_pool(server: BackgroundServer) -> None:
    transport = AiohttpTransport(max_connections=4)
    try:
        answers = await asyncio.gather(
            *(transport.send(request(f"{server.base_url}/echo?i={i}")) for i in range(40))
        )
    finally:
        await transport.aclose()
    assert [a.json()["query"]["i"] for a in answers] == [str(i) for i in range(40)]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_compressed_unasked_is_decompressed(encoding: str) -> None:
    plain = b'{"items": [' + b",".join(b'"x"' for _ in range(5000)) + b"]}"
    packed = gzip.compress(plain) if encoding == "gzip" else zlib.compress(plain)
    with RawServer(
        lambda n, head: Reply(answer(200, packed, f"Content-Encoding: {encoding}"))
    ) as raw:
        transport = AiohttpTransport(max_connections=2)
        try:
            got = await transport.send(request(raw.base_url + "/x"))
        finally:
            await transport.aclose()
    assert got.content == plain


async def test_interim_answers_are_skipped_and_never_answer_the_next_request() -> None:
    # given: every answer is preceded by 100 Continue and 103 Early Hints
    def script(n: int, head: bytes) -> Reply:
        interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
        ask = head.split(b" ")[1].decode()
        return Reply(interim + answer(200, f'{{"asked": "{ask}"}}'.encode()))

    with RawServer(script) as raw:
        transport = AiohttpTransport(max_connections=1)
        try:
            # when: several requests go over the one kept-alive connection
            answers = [
                await transport.send(request(f"{raw.base_url}/executions/{i}")) for i in range(5)
            ]
        finally:
            await transport.aclose()
    # then: each request gets its own answer
    assert [a.json()["asked"] for a in answers] == [f"/executions/{i}" for i in range(5)]
    assert len(raw.requests) == 5


async def test_connection_close_answers_and_idle_closes_cost_no_extra_request(
    server: BackgroundServer,
) -> None:
    # given: a backend that answers 'Connection: close', and one that drops every connection
    # right after answering, unannounced
    def drop(n: int, head: bytes) -> Reply:
        return Reply(answer(200, b'{"n": %d}' % n), then="close")

    transport = AiohttpTransport(max_connections=2)
    try:
        before = SEEN.count("close")
        closed = [await transport.send(request(f"{server.base_url}/close")) for _ in range(4)]
        with RawServer(drop) as raw:
            dropped = []
            for _ in range(4):
                dropped.append(await transport.send(request(raw.base_url + "/x")))
                await asyncio.sleep(0.05)
    finally:
        await transport.aclose()
    # then: every request was answered, and each reached its server exactly once
    assert all(a.json() == {"closing": True} for a in closed)
    assert SEEN.count("close") - before == 4
    assert [a.json()["n"] for a in dropped] == [0, 1, 2, 3]
    assert len(raw.requests) == 4


async def test_an_idle_connection_closed_by_uvicorn_is_not_reused() -> None:
    with BackgroundServer(APP, timeout_keep_alive=0.2) as short:
        transport = AiohttpTransport(max_connections=1)
        try:
            before = len(SEEN)
            for _ in range(3):
                got = await transport.send(request(f"{short.base_url}/echo"))
                assert got.status_code == 200
                await asyncio.sleep(0.4)
        finally:
            await transport.aclose()
    assert len(SEEN) - before == 3


# -- failures ------------------------------------------------------------------------------


async def test_a_refused_connection_was_never_sent() -> None:
    transport = AiohttpTransport(max_connections=1)
    try:
        with pytest.raises(ConnectFailed) as caught:
            await transport.send(request(f"http://127.0.0.1:{free_port()}/x"))
    finally:
        await transport.aclose()
    assert caught.value.sent is False
    assert "127.0.0.1" not in str(caught.value)


@pytest.mark.parametrize("method", ["GET", "DELETE", "POST"])
async def test_a_reset_after_the_request_was_read_is_sent_once_whatever_the_method(
    method: str,
) -> None:
    # given: a backend that reads each request, then resets the connection
    with RawServer(lambda n, head: Reply(then="reset")) as raw:
        transport = AiohttpTransport(max_connections=1)
        try:
            # when
            with pytest.raises(ConnectionLost) as caught:
                await transport.send(
                    request(raw.base_url + "/executions/7", method=method, mutation=method != "GET")
                )
        finally:
            await transport.aclose()
    # then: the backend got it exactly once, and the failure says it may have been acted on
    assert raw.lines() == [f"{method} /executions/7 HTTP/1.1"]
    assert caught.value.sent is True


async def test_a_pooled_connection_dropped_while_idle_does_not_swallow_a_mutation() -> None:
    # given: a backend that answers one read, then closes the kept-alive connection silently
    def script(n: int, head: bytes) -> Reply:
        return Reply(answer(200, b"{}"), then="close" if n == 0 else "keep")

    with RawServer(script) as raw:
        transport = AiohttpTransport(max_connections=1)
        try:
            await transport.send(request(raw.base_url + "/read"))
            await asyncio.sleep(0.05)
            # when: a mutation follows
            done = await transport.send(
                request(raw.base_url + "/stop", method="POST", mutation=True)
            )
        finally:
            await transport.aclose()
    # then: it went out once, on a fresh connection, and was answered
    assert done.status_code == 200
    assert raw.lines() == ["GET /read HTTP/1.1", "POST /stop HTTP/1.1"]


@pytest.mark.parametrize(
    ("data", "wanted"),
    [
        (b"\x00\x01 garbage, not HTTP\r\n\r\n", BadAnswer),
        (b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", BadAnswer),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Filler: 0123456789\r\n" * 5000 + b"\r\n", BadAnswer),
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n", BadAnswer),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", ConnectionLost),
    ],
    ids=["garbage", "http2-status-line", "endless-headers", "huge-header", "truncated"],
)
async def test_answers_that_are_not_http_are_bad_answers(
    data: bytes, wanted: type[Exception]
) -> None:
    with RawServer(lambda n, head: Reply(data, then="close")) as raw:
        transport = AiohttpTransport(max_connections=1)
        try:
            with pytest.raises(wanted):
                await transport.send(request(raw.base_url + "/x"))
        finally:
            await transport.aclose()
    assert len(raw.requests) == 1


async def test_a_body_past_the_limit_is_too_large_declared_or_not() -> None:
    big = b"x" * (3 << 20)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
        b"%x\r\n%s\r\n" % (len(part), part) for part in [b"y" * 65536] * 48
    )
    for data in (answer(200, big), chunked + b"0\r\n\r\n"):
        with RawServer(lambda n, head, data=data: Reply(data, then="close")) as raw:
            transport = AiohttpTransport(max_connections=1)
            try:
                with pytest.raises(AnswerTooLarge, match="answer too large"):
                    await transport.send(request(raw.base_url + "/x", max_bytes=1 << 20))
            finally:
                await transport.aclose()


async def test_a_gzip_bomb_stops_at_the_limit_quickly_and_in_bounded_memory() -> None:
    # given: 1 MB of gzip that inflates to 1 GB
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(1024)) + packer.flush()
    assert len(bomb) < 2 << 20
    with RawServer(lambda n, head: Reply(answer(200, bomb, "Content-Encoding: gzip"))) as raw:
        transport = AiohttpTransport(max_connections=1)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            with pytest.raises(AnswerTooLarge):
                await transport.send(request(raw.base_url + "/x", max_bytes=8 << 20))
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            await transport.aclose()
    # then: it stopped a little past 8 MB of output, not at 1 GB
    assert peak < 40 << 20
    assert elapsed < 2.0


async def test_an_endless_body_is_cut_by_the_request_time() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    with RawServer(lambda n, h: Reply(head, then="hang")) as raw:
        transport = AiohttpTransport(max_connections=1)
        started = time.perf_counter()
        try:
            with pytest.raises(TimedOut):
                await transport.send(request(raw.base_url + "/x", timeout=0.5))
        finally:
            await transport.aclose()
    assert time.perf_counter() - started < 2.0


# -- TLS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pki")
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    client_cert = ca.issue_cert("execgate-gateway")
    paths = {
        "ca": folder / "ca.pem",
        "server": folder / "server.pem",
        "server_key": folder / "server.key",
        "client": folder / "client.pem",
        "client_key": folder / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca"]))
    server_cert.cert_chain_pems[0].write_to_path(str(paths["server"]))
    server_cert.private_key_pem.write_to_path(str(paths["server_key"]))
    client_cert.cert_chain_pems[0].write_to_path(str(paths["client"]))
    client_cert.private_key_pem.write_to_path(str(paths["client_key"]))
    return paths


def _https(pki: dict[str, Path], *, mutual: bool = False) -> BackgroundServer:
    extra: dict[str, object] = {}
    if mutual:
        extra = {"ssl_ca_certs": str(pki["ca"]), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return BackgroundServer(
        APP, ssl_certfile=str(pki["server"]), ssl_keyfile=str(pki["server_key"]), **extra
    )


async def _get(transport: AiohttpTransport, url: str) -> int:
    try:
        return (await transport.send(request(url))).status_code
    finally:
        await transport.aclose()


async def test_a_private_ca_is_trusted_when_named_and_refused_otherwise(
    pki: dict[str, Path],
) -> None:
    with _https(pki) as server:
        url = f"{server.base_url}/echo"
        assert url.startswith("https://")
        assert await _get(AiohttpTransport(max_connections=1, tls=TLS(str(pki["ca"]))), url) == 200
        with pytest.raises(ConnectFailed, match="not trusted") as caught:
            await _get(AiohttpTransport(max_connections=1), url)
        assert caught.value.sent is False
        unverified = AiohttpTransport(max_connections=1, tls=TLS(verify=False))
        assert await _get(unverified, url) == 200


async def test_mutual_tls_presents_the_client_certificate(pki: dict[str, Path]) -> None:
    with _https(pki, mutual=True) as server:
        url = f"{server.base_url}/echo"
        with_cert = TLS(str(pki["ca"]), True, str(pki["client"]), str(pki["client_key"]))
        assert await _get(AiohttpTransport(max_connections=1, tls=with_cert), url) == 200
        with pytest.raises((ConnectFailed, ConnectionLost)):
            await _get(AiohttpTransport(max_connections=1, tls=TLS(str(pki["ca"]))), url)


# -- proxies -------------------------------------------------------------------------------


def test_the_proxy_comes_from_the_instance_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://env-proxy:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://env-tls-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,127.0.0.1")
    assert proxy_for("http://n8n.example:5678", None) == "http://env-proxy:3128"
    assert proxy_for("https://n8n.example", None) == "http://env-tls-proxy:3128"
    assert proxy_for("http://n8n.internal.example", None) is None
    assert proxy_for("http://127.0.0.1:9101", None) is None
    assert proxy_for("http://n8n.example", "http://own:1") == "http://own:1"
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.delenv("HTTPS_PROXY")
    assert proxy_for("http://n8n.example", None) is None


@pytest.fixture(scope="module")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """proxy.py (a real HTTP/HTTPS forward proxy) on 127.0.0.1, logging every request."""
    port = free_port()
    log = tmp_path_factory.mktemp("proxy") / "proxy.log"
    argv = [sys.executable, "-m", "proxy", "--hostname", "127.0.0.1", "--port", str(port)]
    argv += ["--num-workers", "1", "--num-acceptors", "1", "--log-file", str(log)]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ}
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError("proxy.py did not start") from None
            time.sleep(0.1)
    try:
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_requests_go_through_the_configured_proxy(
    forward_proxy: tuple[str, Path], server: BackgroundServer, pki: dict[str, Path]
) -> None:
    proxy, log = forward_proxy
    plain = AiohttpTransport(max_connections=1, proxy=proxy)
    got = await plain.send(request(f"{server.base_url}/echo?via=proxy"))
    await plain.aclose()
    assert got.json()["query"] == {"via": "proxy"}
    with _https(pki) as tls_server:
        tunnelled = AiohttpTransport(max_connections=1, tls=TLS(str(pki["ca"])), proxy=proxy)
        assert await _get(tunnelled, f"{tls_server.base_url}/echo") == 200
        tls_port = tls_server.port
    await asyncio.sleep(0.3)  # the proxy writes its access log after the exchange
    text = log.read_text()
    assert f"127.0.0.1:{server.port}" in text
    assert f"127.0.0.1:{tls_port}" in text


async def test_a_proxy_that_is_down_is_a_failed_connection() -> None:
    transport = AiohttpTransport(max_connections=1, proxy=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectFailed):
        await _get(transport, "http://backend.example/x")


async def test_an_answer_pushed_to_an_idle_connection_never_answers_the_next_request() -> None:
    # given: a backend that, after its first answer on a connection, pushes a second one unasked
    def script(n: int, head: bytes) -> Reply:
        asked = head.split(b" ")[1]
        pushed = answer(200, b'{"asked": "/stale"}') if n == 0 else b""
        return Reply(answer(200, b'{"asked": "%s"}' % asked), later=pushed)

    with RawServer(script) as raw:
        transport = AiohttpTransport(max_connections=1)
        answers: list[object] = []
        try:
            for i in range(4):
                try:
                    got = await transport.send(request(f"{raw.base_url}/x{i}"))
                    answers.append(got.json()["asked"])
                except ConnectionLost as exc:
                    answers.append(type(exc))
                await asyncio.sleep(0.1)
        finally:
            await transport.aclose()
    # then: the request that would have read the pushed answer fails as a lost connection,
    # and every answer read belongs to its own request
    assert answers == ["/x0", ConnectionLost, "/x2", "/x3"]
    assert "/stale" not in answers


async def test_through_the_http_layer_the_read_is_retried_and_answered_correctly() -> None:
    def script(n: int, head: bytes) -> Reply:
        asked = head.split(b" ")[1]
        pushed = answer(200, b'{"asked": "/stale"}') if n == 0 else b""
        return Reply(answer(200, b'{"asked": "%s"}' % asked), later=pushed)

    with RawServer(script) as raw:
        http = backend_http("edge", raw.base_url, {}, None, HTTPSettings(max_concurrency=1))
        try:
            first = await http.json(await http.request("GET", "/executions/110"))
            await asyncio.sleep(0.1)
            second = await http.json(await http.request("GET", "/executions/137"))
        finally:
            await http.transport.aclose()
    assert (first, second) == ({"asked": "/executions/110"}, {"asked": "/executions/137"})


def test_aiohttp_still_has_what_the_stale_answer_check_reads() -> None:
    # When this fails, aiohttp changed: check ClientResponse.start and the protocol's
    # should_close, and mend backends/aio.py's _OwnAnswer.
    assert own_answers_guard()


def test_an_aiohttp_without_what_the_check_reads_is_detected(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import aiohttp

    async def start(self: object, connection: object, extra: object = None) -> None:
        return None

    monkeypatch.setattr(aiohttp.ClientResponse, "start", start)
    assert not own_answers_guard()
    assert "stale-answer check" in caplog.text


async def test_without_the_check_reads_use_fresh_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from execgate.backends import aio

    monkeypatch.setattr(aio, "_GUARDED", False)

    def script(n: int, head: bytes) -> Reply:
        asked = head.split(b" ")[1]
        return Reply(answer(200, b'{"asked": "%s"}' % asked, "Connection: close"), then="close")

    with RawServer(script) as raw:
        transport = AiohttpTransport(max_connections=1)
        try:
            answers = [
                (await transport.send(request(f"{raw.base_url}/x{i}"))).json()["asked"]
                for i in range(3)
            ]
            pooled = transport._session(mutation=False).connector
        finally:
            await transport.aclose()
    assert answers == ["/x0", "/x1", "/x2"]
    assert pooled is not None and pooled.force_close
