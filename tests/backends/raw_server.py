"""A TCP server on 127.0.0.1 that answers HTTP/1.1 requests with scripted bytes.

For what a framework server will not send: interim ``1xx`` answers, a compressed body nobody
asked for, a reset after the request was read, garbage, an ``HTTP/2.0`` status line. Each
request (head and ``Content-Length`` body) is read and recorded, then ``script(n, head)``
(``n`` counts requests from 0) says what to send and what to do with the connection next.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True, slots=True)
class Reply:
    data: bytes = b""
    then: str = "keep"
    """``keep`` the connection, ``close`` it, ``reset`` it (RST), or ``hang`` (send nothing
    more, read nothing more, until the server stops)."""
    later: bytes = b""
    """Sent 50 ms after ``data``, unasked (an answer pushed to an idle connection)."""


def answer(status: int = 200, body: bytes = b"{}", *headers: str, reason: str = "OK") -> bytes:
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


Script = Callable[[int, bytes], Reply]


class RawServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[bytes] = []
        """The head of every request read, in order."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []

    def __enter__(self) -> RawServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        for conn in list(self._conns):
            conn.close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._listener.close()

    def lines(self) -> list[str]:
        """The request line of every request read."""
        return [head.split(b"\r\n", 1)[0].decode() for head in self.requests]

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(0.1)
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read_request(self, conn: socket.socket, buffer: bytearray) -> bytes | None:
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv(conn)
            if not chunk:
                return None
            buffer += chunk
        head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        body = bytearray(rest)
        while len(body) < length:
            chunk = self._recv(conn)
            if not chunk:
                return None
            body += chunk
        buffer[:] = body[length:]
        return head

    def _recv(self, conn: socket.socket) -> bytes:
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
        return b""

    def _serve(self, conn: socket.socket) -> None:
        buffer = bytearray()
        try:
            while not self._stop.is_set():
                head = self._read_request(conn, buffer)
                if head is None:
                    return
                with self._lock:
                    index = len(self.requests)
                    self.requests.append(head)
                reply = self.script(index, head)
                if reply.data:
                    conn.sendall(reply.data)
                if reply.later:
                    self._stop.wait(0.05)
                    conn.sendall(reply.later)
                if reply.then == "hang":
                    self._stop.wait()
                    return
                if reply.then == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if reply.then == "close":
                    return
        except OSError:
            return
        finally:
            conn.close()
