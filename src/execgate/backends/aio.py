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
- **its own answer.** aiohttp keeps parsing what a pooled connection receives while idle, and
  hands the next request on it whatever was queued there: another request's answer, or one
  the backend pushed unasked (and every answer after it shifts by one). The session's
  ``response_class`` (a documented parameter) checks, before reading an answer, that the
  connection held nothing already (its protocol's ``should_close``); if it did, the connection
  is dropped and the read fails as a lost connection, which ``BackendHTTP`` may retry on
  another. ``own_answers_guard`` checks at start-up that aiohttp still has what the check
  reads; if not, reads get fresh connections instead, with a warning.

aiohttp's failures become the seam's (``backends.transport``) here, and only here.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
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

log = logging.getLogger("execgate.backends")

CHUNK = 64 * 1024
YIELD_EVERY = 1024 * 1024
SMALL_BODY = 64 * 1024
"""Bodies up to this are handed on as ``bytes``; larger ones stay in the buffer they were read
into (a ``bytearray``: no second copy of a large body)."""
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


class _StaleAnswer(Exception):
    """A pooled connection held an answer before its request was sent."""


class _OwnAnswer(aiohttp.ClientResponse):
    """Refuses to read an answer from a connection that held one before the request."""

    async def start(self, connection: Any) -> aiohttp.ClientResponse:
        protocol = connection.protocol
        if protocol is not None and protocol.should_close:
            connection.close()
            raise _StaleAnswer
        return await super().start(connection)


def own_answers_guard() -> bool:
    """Whether aiohttp still has what ``_OwnAnswer`` relies on (else: no pooled reads)."""
    start = getattr(aiohttp.ClientResponse, "start", None)
    handler = getattr(aiohttp.client_proto, "ResponseHandler", None)
    fine = (
        callable(start)
        and list(inspect.signature(start).parameters) == ["self", "connection"]
        and isinstance(getattr(handler, "should_close", None), property)
    )
    if not fine:
        log.warning(
            "aiohttp %s lacks what the stale-answer check reads; backend reads will not "
            "reuse connections",
            aiohttp.__version__,
        )
    return fine


class AiohttpTransport:
    """One instance's aiohttp sessions: a pool for reads, fresh connections for mutations.

    ``tls`` configures https; without it aiohttp's default verification applies, and nothing
    is loaded for an instance on plain http.
    """

    def __init__(
        self,
        *,
        max_connections: int,
        tls: TLS | None = None,
        proxy: str | None = None,
        keepalive_seconds: float = 15.0,
    ) -> None:
        self.max_connections = max_connections
        self.tls = tls
        self.proxy = proxy
        self.keepalive_seconds = keepalive_seconds
        self._ssl: ssl.SSLContext | bool | None = None
        self._pooled: aiohttp.ClientSession | None = None
        self._fresh: aiohttp.ClientSession | None = None

    def _session(self, mutation: bool) -> aiohttp.ClientSession:
        session = self._fresh if mutation else self._pooled
        if session is not None:
            return session
        if self._ssl is None:
            self._ssl = self.tls.context() if self.tls is not None else True
        pooled = not mutation and _GUARDED
        reuse: dict[str, Any] = (
            {"keepalive_timeout": self.keepalive_seconds} if pooled else {"force_close": True}
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
            response_class=_OwnAnswer,
        )
        if mutation:
            self._fresh = session
        else:
            self._pooled = session
        return session

    async def send(self, request: Request) -> Response:
        session = self._session(request.mutation)
        timeout = _timeout(request.timeout, request.connect_timeout)
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
                if declared is not None and "Content-Encoding" not in answer.headers:
                    body: bytes | bytearray = await answer.read()  # exactly ``declared``
                else:
                    body = await _read_bounded(answer.content, request.max_bytes)
                return Response(answer.status, answer.headers, body)
        except TransportError:
            raise
        except _Resent as exc:
            raise _failure(exc.__cause__ or exc) from exc
        except _StaleAnswer as exc:
            raise ConnectionLost(
                "a reused connection held an answer sent before the request"
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise _failure(exc) from exc

    async def aclose(self) -> None:
        for session in (self._pooled, self._fresh):
            if session is not None:
                await session.close()
        self._pooled = self._fresh = None


@functools.lru_cache(maxsize=64)
def _timeout(total: float, connect: float) -> aiohttp.ClientTimeout:
    """aiohttp's timeout object for these values (kept: most requests share the policy's)."""
    return aiohttp.ClientTimeout(total=total, sock_connect=connect)


async def _read_bounded(content: aiohttp.StreamReader, limit: int) -> bytes | bytearray:
    """The body, up to ``limit`` bytes. A chunk that is already there is read without
    waiting, so the loop is handed back every ``YIELD_EVERY`` bytes: a large or inflating
    body never holds up other requests (or ``/healthz``) for long."""
    body = bytearray()
    since_yield = 0
    async for chunk in content.iter_chunked(CHUNK):
        if len(body) + len(chunk) > limit:
            raise AnswerTooLarge(_too_large(limit))
        body += chunk
        since_yield += len(chunk)
        if since_yield >= YIELD_EVERY:
            since_yield = 0
            await asyncio.sleep(0)
    return bytes(body) if len(body) <= SMALL_BODY else body


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


_GUARDED = own_answers_guard()
