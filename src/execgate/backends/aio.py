"""The gateway's transport: aiohttp's client, configured for one instance.

Everything a real network needs comes from aiohttp, configured here: connection pooling with
keep-alive, TLS (a private CA, mutual TLS, or no verification when asked), an HTTP proxy (the
instance's own, or ``HTTP(S)_PROXY``/``NO_PROXY`` from the environment), interim ``1xx``
answers skipped, compressed bodies decompressed as they stream, and limits on header lines,
header sizes and the number of headers. On top of it, two rules of the seam:

- **at most once.** aiohttp sends an idempotent request (GET, PUT, DELETE) a second time when
  the connection drops before the answer starts. A per-request client middleware (aiohttp's
  public middleware API) refuses that second attempt, so a request goes out once and retrying
  stays ``BackendHTTP``'s decision. Mutations also never use a pooled connection: they go out
  on a fresh one, closed after the answer, so a connection the backend dropped while idle
  cannot swallow one.
- **bounded.** The body is read in chunks and abandoned past ``Request.max_bytes`` (counted
  after decompression, which aiohttp does chunk by chunk); ``Request.timeout`` bounds the whole
  exchange.

aiohttp's failures become the seam's (``backends.transport``) here, and only here.
"""

from __future__ import annotations

import asyncio
import ssl
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from execgate.backends.transport import (
    AnswerTooLarge,
    BadAnswer,
    ConnectFailed,
    ConnectionLost,
    Request,
    Response,
    TimedOut,
    TransportError,
)

CHUNK = 64 * 1024
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16 * 1024
"""The longest status line or header field accepted (aiohttp's ``max_line_size`` and
``max_field_size``); with ``MAX_HEADERS``, a head is at most about 1.6 MB."""


@dataclass(frozen=True, slots=True)
class TLS:
    """How to trust an https backend, and how to prove who the gateway is."""

    ca_file: str | None = None
    verify: bool = True
    client_cert_file: str | None = None
    client_key_file: str | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca_file)
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if self.client_cert_file is not None:
            context.load_cert_chain(self.client_cert_file, self.client_key_file)
        return context


def proxy_for(url: str, configured: str | None) -> str | None:
    """The proxy to reach ``url`` through: ``configured``, else the environment's
    (``HTTP_PROXY``/``HTTPS_PROXY``, unless ``NO_PROXY`` names the host)."""
    if configured is not None:
        return configured
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.netloc):
        return None
    return urllib.request.getproxies_environment().get(parts.scheme)


class _Resent(Exception):
    """aiohttp tried to send a request a second time."""


def _at_most_once() -> Callable[..., Awaitable[aiohttp.ClientResponse]]:
    """A client middleware that lets one request through once, and re-raises the failure of
    that attempt when aiohttp tries again."""
    failure: list[BaseException] = []

    async def once(
        request: aiohttp.ClientRequest,
        handler: Callable[[aiohttp.ClientRequest], Awaitable[aiohttp.ClientResponse]],
    ) -> aiohttp.ClientResponse:
        if failure:
            raise _Resent from failure[0]
        try:
            return await handler(request)
        except BaseException as exc:
            failure.append(exc)
            raise

    return once


class AiohttpTransport:
    """One instance's aiohttp sessions: a pool for reads, fresh connections for mutations."""

    def __init__(
        self,
        *,
        max_connections: int,
        tls: TLS | None = None,
        proxy: str | None = None,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self.max_connections = max_connections
        self.tls = tls or TLS()
        self.proxy = proxy
        self.keepalive_seconds = keepalive_seconds
        self._ssl: ssl.SSLContext | None = None
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    def _session(self, mutation: bool) -> aiohttp.ClientSession:
        session = self._fresh if mutation else self._pooled
        if session is not None:
            return session
        if self._ssl is None:
            self._ssl = self.tls.context()
        reuse: dict[str, Any] = (
            {"force_close": True} if mutation else {"keepalive_timeout": self.keepalive_seconds}
        )
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=self.max_connections,
            ssl=self._ssl,
            ttl_dns_cache=300,
            **reuse,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Content-Type"),
            max_line_size=MAX_HEADER_BYTES,
            max_field_size=MAX_HEADER_BYTES,
            max_headers=MAX_HEADERS,
        )
        if mutation:
            self._fresh = session
        else:
            self._pooled = session
        return session

    async def send(self, request: Request) -> Response:
        session = self._session(request.mutation)
        timeout = aiohttp.ClientTimeout(total=request.timeout, sock_connect=request.connect_timeout)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body,
                allow_redirects=False,
                timeout=timeout,
                proxy=self.proxy,
                middlewares=(_at_most_once(),),
            ) as answer:
                version = answer.version
                if version is None or version.major != 1:
                    raise BadAnswer("an answer that is not HTTP/1.1")
                declared = answer.content_length
                if declared is not None and declared > request.max_bytes:
                    raise AnswerTooLarge(_too_large(request.max_bytes))
                body = await _read_bounded(answer.content, request.max_bytes)
                headers = {k.lower(): v for k, v in answer.headers.items()}
                return Response(answer.status, headers, body)
        except TransportError:
            raise
        except _Resent as exc:
            raise _failure(exc.__cause__ or exc) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _failure(exc) from exc

    async def aclose(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()
        self._pooled = self._fresh = None


async def _read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in content.iter_chunked(CHUNK):
        size += len(chunk)
        if size > limit:
            raise AnswerTooLarge(_too_large(limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> str:
    return f"answer too large (over {limit // (1024 * 1024)} MB; see max_response_mb)"


def _failure(exc: BaseException) -> TransportError:
    """aiohttp's failure as the seam's; the message names no URL."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TimedOut("no connection in time", sent=False)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return TimedOut("no complete answer in time")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return ConnectFailed("its TLS certificate is not trusted (see ca_file)")
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError):
        return ConnectFailed("the TLS handshake failed")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return ConnectFailed("the proxy refused the connection")
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return ConnectFailed(f"the proxy answered HTTP {exc.status}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectFailed("the connection was refused or the host is unreachable")
    if isinstance(exc, aiohttp.ClientResponseError):
        return BadAnswer("an answer that is not valid HTTP/1.1")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ConnectionLost("the answer ended before it was complete")
    return ConnectionLost("the connection was lost before the answer was complete")
