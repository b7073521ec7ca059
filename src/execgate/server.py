"""Serving an app with uvicorn: the socket bound first, and a deadline for request headers.

``listen`` binds the address before anything is printed, so a port that is taken stops
start-up with one clear line instead of a banner and a key that lead nowhere.

uvicorn times out idle keep-alive connections but not a request whose headers never finish:
a client that opens connections and sends a few bytes now and then holds them for ever.
``header_deadline`` returns uvicorn's httptools protocol with one timer added: a connection
must complete a request's headers within ``seconds`` of opening (or of its last answer), or it
is closed. The protocol class is uvicorn's, so the subclass is guarded: it is used only when
uvicorn's version is one it was written against and the methods it extends exist; otherwise
uvicorn's own protocol serves, with a warning. ``[server] header_timeout_seconds = 0``
switches it off.

WebSockets (live subscriptions) are served without per-message compression: each connection's
zlib state cost the gateway about 45 KB (and a thousand subscribers that much times a
thousand) to shrink events of a few hundred bytes. A message may be as large as a request
body (``[server] max_body_bytes``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from importlib.metadata import version
from typing import Any

import uvicorn

from execgate.telemetry.logs import logging_config

log = logging.getLogger("execgate.server")

TESTED_UVICORN = ("0.55",)
"""uvicorn minor versions the header deadline was written against."""
_EXTENDED = ("connection_made", "connection_lost", "on_headers_complete", "on_response_complete")

WS_MAX_SIZE = 1024 * 1024
"""The largest WebSocket message read, when the app has no settings to say."""

SERVE_GC_THRESHOLDS = (50_000, 10, 10)
"""The cycle collector's thresholds while serving (Python's defaults: 700, 10, 10).

While pages are in flight, most containers a pass finds alive (decoded bodies, executions,
node runs) are still in use, survive it and are walked again by the older generations' passes
(gen-1 passes of about 13 ms each under load); the rarer the passes, the more of them are
freed by reference counting before any pass walks them. Measured on CPython 3.11 with a cold
page of 100 team-style executions with nodes: the collector took 12-15 % of the gateway's CPU
at 5,000 and about 2 % at 50,000. Only cycles (failed requests' tracebacks, closed
connections) wait longer to be freed."""


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``; ``OSError`` when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def header_deadline(seconds: float) -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with a deadline on request headers, or ``None`` when that
    protocol is not the one this was written against (uvicorn's own then serves)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        log.warning("header deadline off: uvicorn's httptools protocol is not available")
        return None
    installed = version("uvicorn")
    missing = [name for name in _EXTENDED if not callable(getattr(HttpToolsProtocol, name, None))]
    if not installed.startswith(TESTED_UVICORN) or missing:
        log.warning(
            "header deadline off: uvicorn %s is not a version it was written for (%s)%s",
            installed,
            ", ".join(TESTED_UVICORN),
            f"; missing {', '.join(missing)}" if missing else "",
        )
        return None

    class HeaderDeadline(HttpToolsProtocol):
        """Closes a connection whose request headers are not complete in time."""

        _header_timer: asyncio.TimerHandle | None = None

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()

    return HeaderDeadline


def serve(
    app: Any, listener: socket.socket, *, header_timeout: float, log_format: str = "text"
) -> None:
    """Serve ``app`` on ``listener`` until interrupted.

    Everything built so far (modules, the schema, the app) lives as long as the process: it is
    kept out of the cycle collector's full passes, which then only walk what requests create,
    and the youngest generation is collected less often (each pass walks the pages in flight).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVE_GC_THRESHOLDS)
    protocol = header_deadline(header_timeout) if header_timeout > 0 else None
    settings = getattr(getattr(app, "state", None), "settings", None)
    server = getattr(settings, "server", None)
    config = uvicorn.Config(
        app,
        # execgate's own INFO lines (an instance answering again, the live poll's lease, ...)
        # go out in both formats: uvicorn's default configuration would drop them
        log_config=logging_config(log_format),
        log_level="info",
        access_log=False,
        http=protocol if protocol is not None else "auto",
        ws_per_message_deflate=False,
        ws_max_size=getattr(server, "max_body_bytes", WS_MAX_SIZE),
    )
    uvicorn.Server(config).run(sockets=[listener])
