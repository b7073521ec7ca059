"""The fault proxy over real sockets: faithful forwarding, every fault, rules and counts.

Checks that depend on exact bytes (interim answers, status lines, resets, truncation, idle
closes) use a blocking socket; the rest use aiohttp as a gateway would. A fresh aiohttp
connection is used where its retry of idempotent requests on a reused connection would hide
what is checked.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import time
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from execgate.simulate.server import BackgroundServer, free_port
from tests.faults.backends import FaultyBackend
from tests.faults.catalogue import (
    MIB,
    ConnectionClose,
    Endless,
    EndlessHeaders,
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
    crc32_combine,
)
from tests.faults.proxy import FaultProxy

LIST = "/api/v1/executions"


# --- helpers --------------------------------------------------------------------------------------


class Raw:
    """A blocking client socket that shows exactly what the proxy sends."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.buffer = b""

    def __enter__(self) -> Raw:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read(self, limit: int = MIB) -> tuple[bytes, OSError | None]:
        """Bytes until the peer closes, fails (the error is returned) or ``limit`` is read."""
        got, self.buffer = bytearray(self.buffer), b""
        while len(got) < limit:
            try:
                chunk = self.sock.recv(min(65536, limit - len(got)))
            except OSError as exc:
                return bytes(got), exc
            if not chunk:
                break
            got += chunk
        return bytes(got), None

    def read_answer(self) -> tuple[bytes, bytes]:
        """One answer framed by Content-Length: its head and its body."""
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, f"closed inside the head: {self.buffer!r}"
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(header(head, b"content-length") or b"0")
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            assert chunk, "closed inside the body"
            rest += chunk
        body, self.buffer = rest[:length], rest[length:]
        return head, body

    def closed_within(self, seconds: float) -> bool:
        """Whether the peer closes (EOF or reset) within ``seconds``, with nothing sent."""
        self.sock.settimeout(seconds)
        try:
            return self.sock.recv(1) == b""
        except TimeoutError:
            return False
        except ConnectionResetError:
            return True


def header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


def request(backend: FaultyBackend, method: str = "GET", target: str = LIST + "?limit=2") -> bytes:
    auth = "".join(f"{k}: {v}\r\n" for k, v in backend.headers.items())
    body = "Content-Length: 0\r\n" if method != "GET" else ""
    return f"{method} {target} HTTP/1.1\r\nHost: test\r\n{auth}{body}\r\n".encode()


def finished_id(backend: FaultyBackend) -> str:
    return next(e.id for e in backend.store.visible() if e.status not in ("running", "waiting"))


def failed_id(backend: FaultyBackend) -> str:
    """A failed execution: one that can be retried."""
    return next(e.id for e in backend.store.visible() if e.status == "error")


@asynccontextmanager
async def session(
    backend: FaultyBackend, *, fresh: bool = False, timeout: float = 5.0
) -> AsyncIterator[aiohttp.ClientSession]:
    """An aiohttp session with the backend's credential; ``fresh``: a new connection for every
    request (no retry on a reused one)."""
    connector = aiohttp.TCPConnector(force_close=fresh, limit=1)
    async with aiohttp.ClientSession(
        backend.proxy.url,
        headers=backend.headers,
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as client:
        yield client


# --- faithful forwarding and counts ---------------------------------------------------------------


async def test_answers_faithfully_over_one_kept_alive_connection_and_counts(
    n8n_backend: FaultyBackend,
) -> None:
    # given: a direct answer from the simulator, for comparison
    proxy = n8n_backend.proxy
    direct_url = n8n_backend.server.base_url + LIST
    async with (
        aiohttp.ClientSession(headers=n8n_backend.headers) as direct,
        direct.get(direct_url, params={"limit": "3"}) as got,
    ):
        expected = await got.json()
    victim = finished_id(n8n_backend)

    # when: three requests through the proxy on one connection
    async with session(n8n_backend) as client:
        async with client.get(LIST, params={"limit": "3"}) as listed:
            assert listed.status == 200
            assert await listed.json() == expected
        async with client.get(f"{LIST}/{victim}") as one:
            assert (await one.json())["id"] == victim
        async with client.delete(f"{LIST}/{victim}") as deleted:
            assert deleted.status == 200

    # then: the backend saw each once, in order, and the delete happened
    assert proxy.forwarded == [
        f"GET {LIST}?limit=3 HTTP/1.1",
        f"GET {LIST}/{victim} HTTP/1.1",
        f"DELETE {LIST}/{victim} HTTP/1.1",
    ]
    assert proxy.count("DELETE", f"{LIST}/{victim}") == 1
    assert proxy.count("GET") == 2
    assert proxy.counts()[("GET", LIST)] == 1
    assert proxy.received == proxy.forwarded
    assert proxy.accepted == 1
    assert n8n_backend.store.get(victim) is None


async def test_team_backend_answers_its_credential_through_the_proxy(
    team_backend: FaultyBackend,
) -> None:
    async with (
        session(team_backend) as client,
        client.get(team_backend.list_path, params={"size": "5"}) as got,
    ):
        page = await got.json()
    assert got.status == 200
    assert len(page["content"]) == 5 and page["totalElements"] == 120
    assert team_backend.proxy.count("GET", team_backend.list_path) == 1
    assert team_backend.instance("acme").base_url == team_backend.proxy.url


async def _stream(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for index in range(50):
            yield b"part-%03d;" % index

    return StreamingResponse(parts(), media_type="text/plain")


async def _peer(request: Request) -> Response:
    assert request.client is not None
    return JSONResponse({"port": request.client.port, "body": (await request.body()).decode()})


@pytest.fixture(scope="module")
def plain_upstream() -> Iterator[BackgroundServer]:
    app = Starlette(
        routes=[Route("/stream", _stream), Route("/peer", _peer, methods=["GET", "POST"])]
    )
    with BackgroundServer(app) as server:
        yield server


@pytest.fixture
def plain_proxy(plain_upstream: BackgroundServer) -> Iterator[FaultProxy]:
    with FaultProxy(plain_upstream.base_url) as proxy:
        yield proxy
    assert proxy.errors == []


def test_a_chunked_answer_is_passed_on_whole_with_its_length(plain_proxy: FaultProxy) -> None:
    with Raw(plain_proxy.url) as raw:
        raw.send(b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = raw.read_answer()
    assert header(head, b"transfer-encoding") is None
    assert body == b"".join(b"part-%03d;" % i for i in range(50))


async def test_upstream_connection_is_kept_alive_and_bodies_are_forwarded(
    plain_proxy: FaultProxy,
) -> None:
    async with aiohttp.ClientSession(plain_proxy.url) as client:
        seen = []
        for index in range(3):
            async with client.post("/peer", data=f"body-{index}") as got:
                seen.append(await got.json())
    assert [s["body"] for s in seen] == ["body-0", "body-1", "body-2"]
    assert len({s["port"] for s in seen}) == 1, "the proxy opened a new upstream connection"


async def test_an_unreachable_upstream_answers_502_and_counts_nothing() -> None:
    with FaultProxy(f"http://127.0.0.1:{free_port()}") as proxy:
        async with aiohttp.ClientSession() as client, client.get(proxy.url + "/x") as got:
            assert got.status == 502
            assert "upstream failed" in await got.text()
        assert proxy.count() == 0 and proxy.received == ["GET /x HTTP/1.1"]


# --- timing ---------------------------------------------------------------------------------------


async def test_latency_delays_before_forwarding_and_before_answering(
    n8n_backend: FaultyBackend,
) -> None:
    proxy = n8n_backend.proxy
    async with session(n8n_backend) as client:

        async def status() -> int:
            async with client.get(LIST) as got:
                await got.read()
                return got.status

        proxy.inject(Latency(before_ms=400))
        began = time.perf_counter()
        task = asyncio.create_task(status())
        await asyncio.sleep(0.1)
        assert proxy.count() == 0, "the backend is reached after the delay"
        assert await task == 200
        assert time.perf_counter() - began >= 0.4 and proxy.count() == 1

        proxy.inject(Latency(after_ms=400))
        task = asyncio.create_task(status())
        await asyncio.sleep(0.2)
        assert proxy.count() == 2, "the backend answers before the delay"
        assert not task.done(), "the client is answered after the delay"
        assert await task == 200


async def test_hang_never_answers_and_forwards_only_when_told(n8n_backend: FaultyBackend) -> None:
    proxy, victim = n8n_backend.proxy, finished_id(n8n_backend)
    proxy.inject(Hang(), on=On.MUTATIONS)
    async with session(n8n_backend, timeout=0.3) as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.delete(f"{LIST}/{victim}")
    assert proxy.count() == 0 and n8n_backend.store.get(victim) is not None

    proxy.inject(Hang(forward=True), on=On.MUTATIONS)
    async with session(n8n_backend, timeout=0.3) as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.delete(f"{LIST}/{victim}")
    assert proxy.count("DELETE") == 1 and n8n_backend.store.get(victim) is None


# --- connections ----------------------------------------------------------------------------------


def test_refuse_resets_new_connections_before_reading(n8n_backend: FaultyBackend) -> None:
    proxy = n8n_backend.proxy
    rule = proxy.inject(Refuse(), times=2)
    for _ in range(2):
        try:
            with Raw(proxy.url) as raw:
                assert raw.closed_within(2.0)
        except ConnectionResetError:
            pass  # the reset can overtake the end of connect()
    with Raw(proxy.url) as raw:
        raw.send(request(n8n_backend))
        head, _ = raw.read_answer()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert rule.fired == 2 and proxy.accepted == 3 and proxy.count() == 1


def test_refuse_rules_select_no_method_and_times_are_positive() -> None:
    with pytest.raises(ValueError, match="no method or path"):
        Rule(Refuse(), on=On.READS)
    with pytest.raises(ValueError, match="at least 1"):
        Rule(Latency(), times=0)


async def test_stop_listening_refuses_at_connect_until_listening_again(
    n8n_backend: FaultyBackend,
) -> None:
    proxy = n8n_backend.proxy
    url = proxy.url
    proxy.stop_listening()
    async with session(n8n_backend, fresh=True) as client:
        with pytest.raises(aiohttp.ClientConnectorError):
            await client.get(LIST)
        proxy.start_listening()
        assert proxy.url == url
        async with client.get(LIST) as got:
            assert got.status == 200


async def test_reset_before_forwarding_never_reaches_the_backend(
    n8n_backend: FaultyBackend,
) -> None:
    proxy, victim = n8n_backend.proxy, failed_id(n8n_backend)
    proxy.inject(ResetBeforeForward(), on=On.MUTATIONS)
    async with session(n8n_backend) as client:
        with pytest.raises(aiohttp.ClientError):
            await client.post(f"{LIST}/{victim}/retry", json={})
    assert proxy.received == [f"POST {LIST}/{victim}/retry HTTP/1.1"]
    assert proxy.count() == 0
    assert not any(e.retry_of == victim for e in n8n_backend.store.visible())


def test_reset_after_forwarding_loses_the_answer_of_a_done_mutation(
    n8n_backend: FaultyBackend,
) -> None:
    proxy, victim = n8n_backend.proxy, failed_id(n8n_backend)
    proxy.inject(ResetAfterForward(), on=On.MUTATIONS)
    with Raw(proxy.url) as raw:
        raw.send(request(n8n_backend, "DELETE", f"{LIST}/{victim}"))
        got, error = raw.read()
    assert got == b"" and isinstance(error, ConnectionResetError)
    assert proxy.count("DELETE", f"{LIST}/{victim}") == 1
    assert n8n_backend.store.get(victim) is None


async def test_reset_after_forwarding_is_an_aiohttp_error_and_the_retry_was_made(
    n8n_backend: FaultyBackend,
) -> None:
    proxy, victim = n8n_backend.proxy, failed_id(n8n_backend)
    proxy.inject(ResetAfterForward(), on=On.MUTATIONS)
    async with session(n8n_backend) as client:
        with pytest.raises(aiohttp.ClientError):
            await client.post(f"{LIST}/{victim}/retry", json={})
    assert proxy.count("POST", f"{LIST}/{victim}/retry") == 1
    assert [e.retry_of for e in n8n_backend.store.visible()].count(victim) == 1


async def test_aiohttp_resends_an_idempotent_request_whose_answer_was_reset(
    n8n_backend: FaultyBackend,
) -> None:
    # aiohttp sends an idempotent request (DELETE included) a second time after a reset;
    # the proxy's counts show it
    proxy, victim = n8n_backend.proxy, finished_id(n8n_backend)
    proxy.inject(ResetAfterForward(), on=On.MUTATIONS)
    async with session(n8n_backend, fresh=True) as client, client.delete(f"{LIST}/{victim}") as got:
        assert got.status == 404
    assert proxy.count("DELETE", f"{LIST}/{victim}") == 2
    assert n8n_backend.store.get(victim) is None


def test_reset_mid_answer_sends_part_of_the_body_then_resets(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(ResetMidAnswer(after_bytes=100))
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        got, error = raw.read()
    head, _, body = got.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert int(header(head, b"content-length") or 0) > 100
    assert body == body[:100] and len(body) == 100
    assert isinstance(error, ConnectionResetError)


def test_truncate_promises_more_than_it_sends_then_closes(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Truncate(keep_bytes=40))
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        got, error = raw.read()
    head, _, body = got.partition(b"\r\n\r\n")
    assert error is None, "closed with FIN, not reset"
    assert len(body) == 40 < int(header(head, b"content-length") or 0)


def test_connection_close_is_announced_and_done(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(ConnectionClose())
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        head, body = raw.read_answer()
        assert header(head, b"connection") == b"close"
        assert json.loads(body)["data"]
        assert raw.closed_within(2.0)


def test_idle_close_closes_a_kept_alive_connection_after_the_idle_time(
    n8n_backend: FaultyBackend,
) -> None:
    n8n_backend.proxy.inject(IdleClose(idle_ms=250), times=None)
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        head, _ = raw.read_answer()
        assert header(head, b"connection") == b"keep-alive"
        raw.send(request(n8n_backend))  # within the idle time: served
        assert raw.read_answer()[0].startswith(b"HTTP/1.1 200 ")
        assert not raw.closed_within(0.1)
        time.sleep(0.25)
        raw.send(request(n8n_backend))  # after it: the connection is gone
        got, _ = raw.read()
    assert got == b""
    assert n8n_backend.proxy.count() == 2


def test_idle_close_of_zero_closes_right_after_the_answer_unannounced(
    n8n_backend: FaultyBackend,
) -> None:
    n8n_backend.proxy.inject(IdleClose())
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        head, _ = raw.read_answer()
        assert header(head, b"connection") == b"keep-alive"
        assert raw.closed_within(1.0)


# --- answers --------------------------------------------------------------------------------------


async def test_html_error_page_forwards_only_when_told(n8n_backend: FaultyBackend) -> None:
    proxy = n8n_backend.proxy
    proxy.inject(HtmlPage(status=502))
    proxy.inject(HtmlPage(status=504, forward=True))
    async with session(n8n_backend) as client:
        for status in (502, 504):
            async with client.get(LIST) as got:
                assert got.status == status
                assert got.content_type == "text/html"
                assert "<html>" in await got.text()
        assert proxy.count() == 1 and len(proxy.received) == 2


async def test_garbage_body_is_random_bytes_of_the_size_asked(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Garbage(size=5000))
    async with session(n8n_backend) as client, client.get(LIST) as got:
        body = await got.read()
        assert got.status == 200 and got.content_type == "application/json"
    assert len(body) == 5000
    with pytest.raises(ValueError):
        json.loads(body)


def test_garbage_can_replace_the_whole_answer(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Garbage(size=300, whole_answer=True))
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        got, _ = raw.read()
    assert len(got) == 300 and not got.startswith(b"HTTP/")


async def test_huge_body_is_announced_and_streamed_as_valid_json(
    n8n_backend: FaultyBackend,
) -> None:
    n8n_backend.proxy.inject(Huge(megabytes=6))
    async with session(n8n_backend) as client, client.get(LIST) as got:
        assert got.content_length == 6 * MIB
        body = await got.read()
    assert len(body) == 6 * MIB
    assert set(json.loads(body)) == {"pad"}


async def test_endless_body_keeps_coming(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Endless())
    async with session(n8n_backend) as client, client.get(LIST) as got:
        assert got.headers["Transfer-Encoding"] == "chunked"
        read = 0
        async for chunk in got.content.iter_chunked(65536):
            read += len(chunk)
            if read > 4 * MIB:
                break
        assert read > 4 * MIB
        assert not got.content.at_eof()
        more = await got.content.read(65536)
        assert len(more) > 0


async def test_endless_body_keeps_its_rate(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Endless(chunk_bytes=1000, interval_ms=50))
    async with session(n8n_backend) as client, client.get(LIST) as got:
        read = 0
        began = time.perf_counter()
        while time.perf_counter() - began < 0.5:
            read += len(await got.content.readany())
        # about 20 kB/s: ten chunks in half a second, give or take the scheduling
        assert 3_000 <= read <= 16_000


async def test_gzip_bomb_is_small_on_the_wire_and_inflates_past_a_bound(
    n8n_backend: FaultyBackend,
) -> None:
    bomb = GzipBomb(compressed_mb=2)
    n8n_backend.proxy.inject(bomb)
    bound = 256 * MIB
    async with (
        aiohttp.ClientSession(headers=n8n_backend.headers, auto_decompress=False) as client,
        client.get(n8n_backend.proxy.url + LIST) as got,
    ):
        assert got.headers["Content-Encoding"] == "gzip"
        assert got.content_length == bomb.compressed_bytes <= 2.1 * MIB
        inflater = zlib.decompressobj(wbits=31)
        wire = inflated = 0
        async for chunk in got.content.iter_chunked(65536):
            wire += len(chunk)
            data = chunk
            while data and inflated <= bound:
                inflated += len(inflater.decompress(data, MIB))
                data = inflater.unconsumed_tail
            if inflated > bound:
                break
    assert inflated > bound
    assert wire < bound / 500, "the bound was passed after a small part of the wire bytes"
    assert bomb.inflated_bytes > 1000 * MIB


def test_a_small_gzip_bomb_is_a_valid_gzip_stream(n8n_backend: FaultyBackend) -> None:
    bomb = GzipBomb(compressed_mb=0.03)
    n8n_backend.proxy.inject(bomb)
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        _, body = raw.read_answer()
    assert len(body) == bomb.compressed_bytes
    inflated = gzip.decompress(body)  # checks the CRC and the length
    assert len(inflated) == bomb.inflated_bytes and inflated.count(0) == len(inflated)


def test_crc32_combine_matches_zlib() -> None:
    first, second = b"fault proxy " * 100, bytes(range(256)) * 7
    combined = crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second))
    assert combined == zlib.crc32(first + second)


def test_endless_headers_never_end(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(EndlessHeaders())
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        got, error = raw.read(limit=2 * MIB)
    assert error is None and len(got) == 2 * MIB
    assert got.startswith(b"HTTP/1.1 200 OK\r\nX-Pad-0000: ")
    assert b"\r\n\r\n" not in got


async def test_endless_headers_fail_an_aiohttp_client(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(EndlessHeaders())
    async with session(n8n_backend, fresh=True) as client:
        with pytest.raises(aiohttp.ClientResponseError):
            await client.get(LIST)


def test_interim_answers_come_before_the_real_one(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Interim((100, 103)))
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        first = raw.read_answer()[0]
        second = raw.read_answer()[0]
        head, body = raw.read_answer()
    assert first == b"HTTP/1.1 100 Continue"
    assert second.startswith(b"HTTP/1.1 103 Early Hints\r\nLink: ")
    assert head.startswith(b"HTTP/1.1 200 OK") and json.loads(body)["data"]


async def test_redirect_points_elsewhere_without_forwarding(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Redirect("http://127.0.0.1:9/elsewhere", status=307))
    async with session(n8n_backend) as client, client.get(LIST, allow_redirects=False) as got:
        assert got.status == 307
        assert got.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    assert n8n_backend.proxy.count() == 0


def test_http2_status_line_carries_the_backend_answer(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(Http2StatusLine())
    with Raw(n8n_backend.proxy.url) as raw:
        raw.send(request(n8n_backend))
        head, body = raw.read_answer()
    assert head.startswith(b"HTTP/2.0 200 OK\r\n")
    assert json.loads(body)["data"] and n8n_backend.proxy.count() == 1


async def test_wrong_status_replaces_the_backend_status(n8n_backend: FaultyBackend) -> None:
    n8n_backend.proxy.inject(WrongStatus("599"))
    n8n_backend.proxy.inject(WrongStatus("2000", "Weird"))
    async with session(n8n_backend, fresh=True) as client:
        async with client.get(LIST) as got:
            assert got.status == 599 and (await got.json())["data"]
        with pytest.raises(aiohttp.ClientResponseError, match="2000"):
            await client.get(LIST)


# --- rules ----------------------------------------------------------------------------------------


async def _statuses(client: aiohttp.ClientSession, calls: list[tuple[str, str]]) -> list[int]:
    found = []
    for method, path in calls:
        async with client.request(method, path) as got:
            found.append(got.status)
    return found


async def test_rules_select_by_method_path_and_times(n8n_backend: FaultyBackend) -> None:
    proxy = n8n_backend.proxy
    one = f"{LIST}/{finished_id(n8n_backend)}"
    reads = proxy.inject(HtmlPage(503), on=On.READS, path=r"/executions/\d+$", times=2)
    mutations = proxy.inject(HtmlPage(502), on=On.MUTATIONS)
    async with session(n8n_backend) as client:
        calls = [("GET", LIST), ("GET", one), ("POST", f"{one}/stop"), ("GET", one)]
        calls += [("GET", one), ("POST", f"{one}/stop")]
        statuses = await _statuses(client, calls)
    # a finished execution cannot be stopped: the backend's own answer is 409
    assert statuses == [200, 503, 502, 503, 200, 409]
    assert (reads.fired, mutations.fired) == (2, 1) and reads.spent and mutations.spent


async def test_always_rules_stay_until_cleared(n8n_backend: FaultyBackend) -> None:
    proxy = n8n_backend.proxy
    rule = proxy.inject(HtmlPage(502), times=None)
    async with session(n8n_backend) as client:
        assert await _statuses(client, [("GET", LIST)] * 4) == [502] * 4
        proxy.clear()
        assert await _statuses(client, [("GET", LIST)]) == [200]
    assert rule.fired == 4 and not rule.spent and proxy.rules == []


async def test_first_matching_rule_wins_and_counts_survive_resets(
    n8n_backend: FaultyBackend,
) -> None:
    proxy = n8n_backend.proxy
    proxy.add(
        Rule(ResetAfterForward(), on=On.MUTATIONS, times=3),
        Rule(HtmlPage(502), times=None),
    )
    victim = f"{LIST}/{finished_id(n8n_backend)}"
    for _ in range(3):
        with Raw(proxy.url) as raw:
            raw.send(request(n8n_backend, "POST", f"{victim}/retry"))
            assert raw.read()[0] == b""
    async with session(n8n_backend) as client:
        assert await _statuses(client, [("DELETE", victim), ("GET", LIST)]) == [502, 502]
    assert proxy.count("POST", f"{victim}/retry") == 3
    assert proxy.count() == 3 and len(proxy.received) == 5
    proxy.reset_counts()
    assert proxy.count() == 0 and proxy.forwarded == [] and proxy.accepted == 0


# --- life cycle -----------------------------------------------------------------------------------


async def test_stop_ends_endless_and_hanging_connections_quickly(
    plain_upstream: BackgroundServer,
) -> None:
    proxy = FaultProxy(plain_upstream.base_url).start()
    try:
        proxy.inject(Endless(), on=On.READS)
        proxy.inject(Hang(), on=On.MUTATIONS)
        async with aiohttp.ClientSession(proxy.url) as client:
            endless = await client.get("/peer")
            await endless.content.readany()
            hanging = asyncio.create_task(client.post("/peer"))
            await asyncio.sleep(0.1)
            began = time.perf_counter()
            await asyncio.to_thread(proxy.stop)
            assert time.perf_counter() - began < 2
            with pytest.raises(aiohttp.ClientError):
                await endless.content.read()
            with pytest.raises(aiohttp.ClientError):
                await hanging
            endless.release()
    finally:
        proxy.stop()
    assert proxy.errors == []
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", proxy.port), timeout=1).close()
