"""Run an ASGI app under uvicorn on 127.0.0.1, in the foreground or in a background thread.

``BackgroundServer`` is how tests and the benchmark reach a simulator (or the gateway) over a
real socket: port 0 picks a free port, and ``base_url`` tells which.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """uvicorn serving ``app`` on 127.0.0.1 in a daemon thread; stop() or ``with`` ends it."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **config: Any) -> None:
        """``config`` goes to ``uvicorn.Config`` (TLS files, keep-alive timeout, ...)."""
        self.host = host
        self.port = port or free_port(host)
        self.scheme = "https" if config.get("ssl_certfile") else "http"
        settings = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_level="warning",
            lifespan="auto",
            access_log=False,
            **config,
        )
        self._server = uvicorn.Server(settings)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.base_url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
