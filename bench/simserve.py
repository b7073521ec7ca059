"""``execgate simulate ...`` with a request counter: the benchmark's simulator processes.

Runs exactly what the ``execgate simulate team|n8n`` command runs (the same argument parsing,
seeded store and credentials, served by uvicorn), with the app wrapped in a small ASGI
counter. ``GET /__stats`` answers ``{"requests": n, "routes": {"GET /api/executions/{id}": n,
...}}`` (ids folded into ``{id}``) and is not itself counted; every other request is counted
before it reaches the simulator. The counter is in-process, so it adds no hop and no latency.

    python -m bench.simserve team --port 9101 --seed 7 --token T [--latency-ms 10]
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATS_PATH = "/__stats"
_ID = re.compile(
    r"^(\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)


def route_of(method: str, path: str) -> str:
    parts = ["{id}" if _ID.match(part) else part for part in path.split("/")]
    return f"{method} {'/'.join(parts)}"


class Counting:
    """Counts the HTTP requests that reach ``app`` and serves the counts at ``/__stats``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATS_PATH:
            body = json.dumps(
                {"requests": sum(self.routes.values()), "routes": dict(self.routes)}
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        self.routes[route_of(scope["method"], scope["path"])] += 1
        await self.app(scope, receive, send)


def main(argv: list[str]) -> int:
    import execgate.cli as cli

    original = cli._serve_app

    def serve_counted(
        app: object, listener: Any, header_timeout: float, log_format: str = "text"
    ) -> None:
        original(Counting(app), listener, header_timeout, log_format)  # type: ignore[arg-type]

    cli._serve_app = serve_counted
    return cli.main(["simulate", *argv])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
