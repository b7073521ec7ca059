"""An ASGI wrapper that counts, and can alter, the requests that reach a simulator."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Seen:
    method: str
    path: str
    query: str

    @property
    def is_detail(self) -> bool:
        """A team-style execution read (``GET /api/executions/{id}``)."""
        parts = self.path.strip("/").split("/")
        return self.method == "GET" and len(parts) == 3 and parts[:2] == ["api", "executions"]


@dataclass
class Counted:
    """``app`` behind a counter: ``seen`` holds every HTTP request that reached it.

    ``refuse(seen)`` may answer a request itself (a status and a JSON body) instead of the app;
    ``edit(seen, body)`` may change a JSON answer of the app before it is sent.
    """

    app: App
    seen: list[Seen] = field(default_factory=list)
    refuse: Callable[[Seen], tuple[int, Any] | None] = lambda seen: None
    edit: Callable[[Seen, Any], Any] = lambda seen, body: body

    def details(self) -> int:
        return sum(1 for s in self.seen if s.is_detail)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = Seen(scope["method"], scope["path"], scope["query_string"].decode())
        self.seen.append(seen)
        refused = self.refuse(seen)
        if refused is not None:
            json_type = [(b"content-type", b"application/json")]
            await _answer(send, refused[0], json.dumps(refused[1]).encode(), json_type)
            return
        start: Message = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        if start.get("status") == 200 and body[:1] in (b"{", b"["):
            body = json.dumps(self.edit(seen, json.loads(body))).encode()
        await _answer(send, int(start["status"]), body, start.get("headers", []))


async def _answer(send: Send, status: int, body: bytes, headers: Any = ()) -> None:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    kept.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body})
