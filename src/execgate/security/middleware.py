"""The HTTP guard in front of ``/graphql``: client key, rate limit, body size.

In order, before the GraphQL layer sees anything:

1. Authentication. With clients configured, the request must carry
   ``Authorization: Bearer <key>`` for one of them; otherwise 401 with ``WWW-Authenticate``
   and ``extensions.reason`` saying which: no key (``MISSING_KEY``), a header that is not
   ``Bearer <key>`` (``MALFORMED_KEY``: another scheme, a key without the prefix), or a key
   no client has (``UNKNOWN_KEY``). With no clients, every request is the anonymous
   full-access client, answered only when it comes from a loopback address
   (``NOT_LOOPBACK`` otherwise; the CLI also refuses to bind elsewhere) and names a loopback
   host (403 otherwise).
2. The client's rate limit: 429 with ``Retry-After`` when its bucket is empty.
3. The body size: 413 when it exceeds ``max_body_bytes`` (checked on ``Content-Length`` and
   again while reading, so a chunked body is cut off too).

The authenticated ``Client`` travels to the GraphQL layer in the ASGI scope under
``CLIENT_SCOPE_KEY``. A GET without a ``query`` parameter (the GraphiQL page) passes without a
client: it executes nothing, and the context it gets can read nothing. Refusals are
GraphQL-shaped JSON (``errors`` with ``extensions.code``, no ``data``), and each leaves exactly
one warning in the ``execgate.security`` log (method, path, peer, status, why); no refusal and
no log line carries a presented key or header.

A WebSocket (graphql-transport-ws on ``/graphql``) cannot carry a key in its handshake from a
browser, so it presents it in ``connection_init``'s payload (``{"Authorization": "Bearer
<key>"}``, as GraphiQL sends its headers there): ``connection_client`` checks it when that
message comes, with the same reasons, and the refusal closes the socket with 4401
(``UNAUTHENTICATED: …``) or 4403 (``FORBIDDEN: …``). The handshake itself passes, except
without clients, where the anonymous loopback rules refuse it (HTTP 403) like a request.

``MCPGuard`` is the same guard in front of ``/mcp`` (the MCP tools): the same keys, loopback
rule and body limit, but every request needs a client (there is no page to open), refusals
are JSON-RPC errors that MCP clients show (the code in ``error.data.code``), and the rate
limit is taken by the tools, one token per tool call, from the same buckets.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from execgate.domain.access import Scope as ClientScope
from execgate.security.clients import Client, ClientDirectory, KeyProblem, presented_key
from execgate.security.ratelimit import RateLimiter, retry_after_seconds
from execgate.telemetry import context as request_context

CLIENT_SCOPE_KEY = "execgate.client"
ANONYMOUS = Client("anonymous", "", ClientScope.full("anonymous"))

log = logging.getLogger("execgate.security")


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an address or ``localhost``) is this machine only."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_of(authority: str) -> str:
    """The host of a ``Host`` header or of an origin's authority, without port or brackets."""
    if authority.startswith("["):
        return authority[1:].partition("]")[0]
    return authority.rpartition(":")[0] if authority.count(":") == 1 else authority


def loopback_request(headers: Headers) -> bool:
    """Whether the request names a loopback host (``Host``) and, when it says where it comes
    from (``Origin``), a loopback origin. A page of another site, or a name rebound to
    127.0.0.1 by its DNS, fails one of the two."""
    if not is_loopback(host_of(headers.get("host", ""))):
        return False
    origin = headers.get("origin")
    if origin is None:
        return True
    scheme, _, authority = origin.partition("://")
    return scheme in ("http", "https") and is_loopback(host_of(authority))


def error_response(
    status: int,
    message: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
    media_type: str = "application/json",
) -> Response:
    """A GraphQL-shaped refusal: one error with a code, and no ``data``."""
    body = {"errors": [{"message": message, "extensions": {"code": code, **(extensions or {})}}]}
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=media_type,
        headers=dict(headers or {}),
    )


JSONRPC_REFUSED = -32001
"""The JSON-RPC error code of a request ``/mcp`` refuses (execgate's code is in ``data``)."""


def jsonrpc_refusal(
    status: int,
    message: str,
    code: str,
    *,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
    media_type: str = "application/json",
) -> Response:
    """A refusal MCP clients read: a JSON-RPC error (no request id) naming execgate's code."""
    error = {
        "code": JSONRPC_REFUSED,
        "message": f"{code}: {message}",
        "data": {"code": code, **(extensions or {})},
    }
    return Response(
        orjson.dumps({"jsonrpc": "2.0", "id": None, "error": error}),
        status_code=status,
        media_type=media_type,
        headers=dict(headers or {}),
    )


def log_refusal(scope: Scope, status: int, why: str) -> None:
    """The one log line of a refused request: what was asked, by which peer, the status and
    why (``why`` never holds a presented key or header)."""
    peer = scope.get("client")
    log.warning(
        "refused %s %s from %s with HTTP %d: %s",
        scope.get("method", "?"),
        scope.get("path", "?"),
        peer[0] if peer else "an unknown peer",
        status,
        why,
    )


class BodyTooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class SecurityMiddleware:
    """Wraps the GraphQL endpoint (an ASGI app) with authentication, rate and size limits."""

    refuse = staticmethod(error_response)
    """How a refusal is written (GraphQL-shaped here)."""
    rate_limited = True
    """Whether each request takes a token from its client's bucket."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        directory: ClientDirectory,
        limiter: RateLimiter | None = None,
        max_body_bytes: int,
    ) -> None:
        self.app = app
        self.directory = directory
        self.limiter = limiter or RateLimiter(directory.clients)
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await error_response(400, "only HTTP is served here", "BAD_REQUEST")(
                scope, receive, send
            )
            return
        if _is_ide_page(scope):
            await self.app(scope, receive, send)
            return
        await self._guarded(scope, receive, send)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, rate limit (``rate_limited``) and read the body, then hand the request
        on with its client in the scope; or answer the refusal."""
        headers = Headers(scope=scope)
        client, refusal = self._authenticate(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        assert client is not None
        request_context.client_name.set(client.name)
        wait = await self.limiter.admit(client.name) if self.rate_limited else 0.0
        if wait > 0:
            seconds = retry_after_seconds(wait)
            log_refusal(
                scope, 429, f"client {client.name!r} is over its rate limit; retry in {seconds}s"
            )
            await self.refuse(
                429,
                f"too many requests from client {client.name!r}; retry in {seconds}s",
                "RATE_LIMITED",
                headers={"Retry-After": str(seconds)},
                extensions={"retryAfter": seconds},
            )(scope, receive, send)
            return
        body = await self._body(scope, headers, receive, send, client)
        if body is None:
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, CLIENT_SCOPE_KEY: client}, replay, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket handshake: its key comes later (``connection_client``); without
        clients, the anonymous loopback rules apply now, and a refusal answers HTTP 403."""
        if self.directory:
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        why = None
        if not is_loopback(peer[0] if peer else None):
            why = "no clients are configured and the peer is not on loopback"
        elif not loopback_request(Headers(scope=scope)):
            why = "an anonymous WebSocket naming a host or origin that is not loopback"
        if why is not None:
            log_refusal({**scope, "method": "WebSocket"}, 403, why)
            await send({"type": "websocket.close", "code": 1008})
            return
        await self.app({**scope, CLIENT_SCOPE_KEY: ANONYMOUS}, receive, send)

    def _authenticate(
        self, scope: Scope, headers: Headers
    ) -> tuple[Client | None, Response | None]:
        peer = scope.get("client")
        peer_host = peer[0] if peer else None
        if not self.directory:
            if is_loopback(peer_host):
                if not loopback_request(headers):
                    log_refusal(
                        scope,
                        403,
                        "an anonymous request naming a host or origin that is not loopback "
                        "(DNS rebinding or a cross-origin page)",
                    )
                    return None, self.refuse(
                        403,
                        "without clients this gateway answers only requests to a loopback "
                        "host name (localhost, 127.0.0.1, [::1]) from a loopback origin",
                        "FORBIDDEN",
                    )
                return ANONYMOUS, None
            log_refusal(scope, 401, "no clients are configured and the peer is not on loopback")
            return None, self._unauthenticated(
                "this gateway has no clients configured and answers only on loopback",
                "NOT_LOOPBACK",
            )
        presented = presented_key(headers.get("authorization"))
        if presented is KeyProblem.MISSING:
            log_refusal(scope, 401, "no client key")
            return None, self._unauthenticated(
                "a client key is required: send 'Authorization: Bearer <key>'", presented.value
            )
        if presented is KeyProblem.MALFORMED:
            log_refusal(scope, 401, "an Authorization header that is not 'Bearer <key>'")
            return None, self._unauthenticated(
                "the Authorization header is malformed: send the client key as "
                "'Authorization: Bearer <key>'",
                presented.value,
                error="invalid_request",
            )
        client = self.directory.authenticate(presented)
        if client is not None:
            return client, None
        log_refusal(scope, 401, "a client key that no client has")
        return None, self._unauthenticated(
            "the client key is not valid", "UNKNOWN_KEY", error="invalid_token"
        )

    def _unauthenticated(self, message: str, reason: str, *, error: str | None = None) -> Response:
        """A 401 with its ``WWW-Authenticate`` challenge (RFC 6750's ``error`` when a key was
        presented) and ``extensions.reason`` saying what was wrong."""
        challenge = 'Bearer realm="execgate"' + (f', error="{error}"' if error else "")
        return self.refuse(
            401,
            message,
            "UNAUTHENTICATED",
            headers={"WWW-Authenticate": challenge},
            extensions={"reason": reason},
        )

    async def _body(
        self, scope: Scope, headers: Headers, receive: Receive, send: Send, client: Client
    ) -> bytes | None:
        declared = headers.get("content-length")
        try:
            if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
                raise BodyTooLarge
            return await _read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            log_refusal(
                scope,
                413,
                f"client {client.name!r} sent a body over {self.max_body_bytes} bytes",
            )
            await self.refuse(
                413,
                f"the request body is larger than {self.max_body_bytes} bytes",
                "REQUEST_TOO_LARGE",
                extensions={"limit": self.max_body_bytes},
            )(scope, receive, send)
            return None


def _is_ide_page(scope: Scope) -> bool:
    """A GET without ``query`` or ``extensions``: GraphiQL's page (or a 4xx), never an
    operation (a persisted query sent by its hash alone has ``extensions``)."""
    if scope.get("method") != "GET":
        return False
    raw = scope.get("query_string", b"").decode("latin-1")
    params = parse_qs(raw, keep_blank_values=True)
    return "query" not in params and "extensions" not in params


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a WebSocket's ``connection_init`` is refused: its close code and reason (what the
    client sees), and the log's words."""

    code: int
    reason: str
    why: str


UNAUTHORIZED_CLOSE = 4401
FORBIDDEN_CLOSE = 4403


def connection_client(
    directory: ClientDirectory, payload: Mapping[str, Any], scope: Scope
) -> Client | Refused:
    """The client a WebSocket's ``connection_init`` payload presents its key for
    (``Authorization: Bearer <key>``, the name in any case), or why not (logged)."""
    found = scope.get(CLIENT_SCOPE_KEY)
    if isinstance(found, Client):
        return found  # the anonymous client, admitted by the handshake
    header = next(
        (v for k, v in payload.items() if isinstance(k, str) and k.lower() == "authorization"),
        None,
    )
    presented = presented_key(header if isinstance(header, str) else None)
    if presented is KeyProblem.MISSING:
        refused = Refused(
            UNAUTHORIZED_CLOSE,
            "UNAUTHENTICATED: a client key is required: connectionParams "
            '{"Authorization": "Bearer <key>"}',
            "no client key",
        )
    elif presented is KeyProblem.MALFORMED:
        refused = Refused(
            UNAUTHORIZED_CLOSE,
            "UNAUTHENTICATED: the Authorization parameter is malformed: send 'Bearer <key>'",
            "an Authorization parameter that is not 'Bearer <key>'",
        )
    else:
        client = directory.authenticate(presented)
        if client is not None:
            return client
        refused = Refused(
            UNAUTHORIZED_CLOSE,
            "UNAUTHENTICATED: the client key is not valid",
            "a client key that no client has",
        )
    peer = scope.get("client")
    log.warning(
        "refused WebSocket %s from %s with close %d: %s",
        scope.get("path", "?"),
        peer[0] if peer else "an unknown peer",
        refused.code,
        refused.why,
    )
    return refused


class MCPGuard(SecurityMiddleware):
    """The guard in front of ``/mcp`` (see the module's docstring)."""

    refuse = staticmethod(jsonrpc_refusal)
    rate_limited = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.refuse(400, "only HTTP is served here", "BAD_REQUEST")(scope, receive, send)
            return
        await self._guarded(scope, receive, send)


class ExportGuard(SecurityMiddleware):
    """The guard in front of ``/export``: the same keys, loopback rule and rate limit as
    ``/graphql`` (GraphQL-shaped refusals), for every request: there is no page to open."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await error_response(400, "only HTTP is served here", "BAD_REQUEST")(
                scope, receive, send
            )
            return
        await self._guarded(scope, receive, send)
