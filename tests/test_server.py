"""Serving: a taken port stops start-up before anything is promised; request headers have a
deadline, through a real uvicorn and real sockets."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from execgate import server
from execgate.simulate.server import free_port

REPO = Path(__file__).resolve().parents[1]


async def hello(request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


APP = Starlette(routes=[Route("/", hello)])


def test_a_taken_port_stops_demo_and_serve_before_any_banner_or_key() -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "execgate", "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )
    finally:
        taken.close()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines == [f"execgate: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert "egk_" not in done.stderr + done.stdout


@pytest.fixture
def guarded_server() -> Iterator[int]:
    listener = server.listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    protocol = server.header_deadline(0.5)
    assert protocol is not None
    config = uvicorn.Config(APP, log_level="warning", http=protocol)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield port
    running.should_exit = True
    thread.join(timeout=10)
    listener.close()


def _answer(sock: socket.socket) -> bytes:
    got = b""
    while not got.endswith(b"hello"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        got += chunk
    return got


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_connections_that_never_finish_their_headers_are_closed(guarded_server: int) -> None:
    # given: many clients that send half a request head, and one byte now and then
    slow = [socket.create_connection(("127.0.0.1", guarded_server)) for _ in range(50)]
    for sock in slow:
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)
    for sock in slow:
        sock.sendall(b"X")
    # then: every one is closed soon after the deadline
    try:
        assert all(_closed_within(sock, 2.0) for sock in slow)
    finally:
        for sock in slow:
            sock.close()
    # and a normal client, kept alive over two requests with a pause, is served
    with socket.create_connection(("127.0.0.1", guarded_server)) as ok:
        for _ in range(2):
            ok.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _answer(ok).endswith(b"hello")
            time.sleep(0.3)


def test_an_idle_kept_alive_connection_must_start_its_next_request_in_time(
    guarded_server: int,
) -> None:
    with socket.create_connection(("127.0.0.1", guarded_server)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _answer(sock).endswith(b"hello")
        sock.sendall(b"GET / HTTP/1.1\r\n")
        assert _closed_within(sock, 2.0)


def test_an_unknown_uvicorn_falls_back_to_its_own_protocol(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "execgate.server")
    monkeypatch.setattr(server, "version", lambda name: "9.0.0")
    assert server.header_deadline(1.0) is None
    assert "header deadline off: uvicorn 9.0.0" in caplog.text


def test_uvicorn_is_a_version_the_header_deadline_was_written_for() -> None:
    # When this fails, uvicorn was upgraded: check its httptools protocol and extend
    # server.TESTED_UVICORN.
    assert server.header_deadline(1.0) is not None


def test_a_port_number_that_is_free_is_bound_on_the_address_asked() -> None:
    port = free_port()
    sock = server.listen("127.0.0.1", port)
    try:
        assert sock.getsockname() == ("127.0.0.1", port)
    finally:
        sock.close()
