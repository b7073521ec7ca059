"""The one place that speaks HTTP to backends: clients, timeouts, limits and error mapping.

Every adapter sends its requests through ``BackendHTTP.request``. It maps transport failures and
backend status codes to the domain error tree, limits in-flight requests per instance, retries
idempotent reads once on a refused connection or a gateway-class 5xx, and never retries a
mutation. Messages name the instance and never its URL or credential.
"""

from __future__ import annotations

import asyncio
import json as json_module
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import orjson

from execgate.backends.http11 import ReadPool
from execgate.backends.transport import AiohttpTransport
from execgate.domain.errors import (
    BackendError,
    UpstreamBadResponse,
    UpstreamForbidden,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)

_RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """Per-instance transport settings (config keys ``timeout_seconds`` and friends)."""

    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 3.0
    mutation_timeout_seconds: float = 30.0
    retry_timeout_seconds: float = 300.0
    max_concurrency: int = 16
    read_retries: int = 1
    transport: str = "http11"
    """``http11`` (the default: GETs through ``backends/http11.py``'s read pool, the rest through
    aiohttp), ``aiohttp`` (everything through aiohttp's pool under the httpx API) or ``httpx``
    (httpx's own pool)."""


class Answer(Protocol):
    """What adapters read of a backend's answer (``httpx.Response`` is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def headers(self) -> httpx.Headers: ...

    def json(self, **kwargs: Any) -> Any: ...


@dataclass(slots=True)
class RawAnswer:
    """An answer read directly (the read pool, or the aiohttp transport): status and body as
    they came.

    Adapters mostly read only those two; the headers (and httpx's own JSON decoding, for a body
    orjson refuses) come from an ``httpx.Response`` built on first use.
    """

    status_code: int
    content: bytes
    raw_headers: list[tuple[str, str]]
    _response: httpx.Response | None = field(default=None, repr=False)

    def response(self) -> httpx.Response:
        if self._response is None:
            self._response = httpx.Response(
                self.status_code, headers=self.raw_headers, content=self.content
            )
        return self._response

    @property
    def headers(self) -> httpx.Headers:
        return self.response().headers

    def json(self, **kwargs: Any) -> Any:
        return self.response().json(**kwargs)


def _param(value: Any) -> str:
    """A query value as httpx would write it."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def build_client(
    base_url: str,
    headers: Mapping[str, str],
    settings: HTTPSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` for one instance; the caller (the app lifespan) closes it."""
    limits = httpx.Limits(
        max_connections=settings.max_concurrency,
        max_keepalive_connections=settings.max_concurrency,
    )
    timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
    if transport is None and settings.transport in ("aiohttp", "http11"):
        transport = AiohttpTransport(max_connections=settings.max_concurrency)
    return httpx.AsyncClient(
        base_url=base_url,
        headers=dict(headers),
        timeout=timeout,
        limits=limits,
        transport=transport,
        follow_redirects=False,
    )


def open_http(
    instance: str,
    base_url: str,
    headers: Mapping[str, str],
    settings: HTTPSettings,
    transport: httpx.AsyncBaseTransport | None = None,
) -> BackendHTTP:
    """One instance's ``BackendHTTP``, sending as its ``transport`` setting says; a given
    ``transport`` (a test double) carries everything instead."""
    direct: AiohttpTransport | None = None
    reads: ReadPool | None = None
    if transport is None and settings.transport in ("aiohttp", "http11"):
        transport = direct = AiohttpTransport(max_connections=settings.max_concurrency)
        if settings.transport == "http11":
            reads = ReadPool(base_url)
    client = build_client(base_url, headers, settings, transport)
    return BackendHTTP(instance, client, settings, direct=direct, reads=reads)


class BackendHTTP:
    """Sends one instance's requests and turns failures into ``BackendError`` subclasses."""

    def __init__(
        self,
        instance: str,
        client: httpx.AsyncClient,
        settings: HTTPSettings | None = None,
        direct: AiohttpTransport | None = None,
        reads: ReadPool | None = None,
    ) -> None:
        self.instance = instance
        self.client = client
        self.settings = settings or HTTPSettings()
        self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        self._direct = direct
        """The client's own aiohttp transport, when it has one: requests go to it directly."""
        self._base = str(client.base_url).rstrip("/")
        # Both direct paths hand bodies over as they came, so they ask for none compressed.
        self._headers = [
            (name, value)
            for name, value in client.headers.multi_items()
            if name.lower() != "accept-encoding"
        ]
        self._reads = reads
        """The instance's read pool, when it has one: GETs go to it."""
        self._head = b"" if reads is None else reads.head(self._headers)
        self.calls = 0
        """Requests sent so far (tests and benchmarks read it)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        mutation: bool = False,
        timeout: float | None = None,
        ok: frozenset[int] = frozenset({200}),
    ) -> Answer:
        """Send a request; return the response if its status is in ``ok`` or is 4xx.

        401, 403, 5xx and transport failures raise. Other 4xx come back to the adapter, which
        knows what they mean for its API (404 not found, 409 conflict, ...).
        """
        attempts = 1 if mutation else 1 + self.settings.read_retries
        request_timeout: httpx.Timeout | None = None
        if timeout is not None:
            request_timeout = httpx.Timeout(timeout, connect=self.settings.connect_timeout_seconds)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                async with self._slots:
                    self.calls += 1
                    if self._reads is not None and method == "GET":
                        response = await self._send_read(path, params, timeout)
                    elif self._direct is not None:
                        response = await self._send_direct(method, path, params, json, timeout)
                    elif request_timeout is None:
                        response = await self.client.request(method, path, params=params, json=json)
                    else:
                        response = await self.client.request(
                            method, path, params=params, json=json, timeout=request_timeout
                        )
            except httpx.TimeoutException as exc:
                if mutation:
                    raise UpstreamTimeout(
                        self.instance,
                        f"instance {self.instance!r} did not answer in time; "
                        "the outcome of the action is unknown",
                    ) from exc
                if last:
                    raise UpstreamTimeout(
                        self.instance, f"instance {self.instance!r} did not answer in time"
                    ) from exc
                continue
            except httpx.ConnectError as exc:
                if last:
                    raise UpstreamUnavailable(
                        self.instance, f"instance {self.instance!r} refused the connection"
                    ) from exc
                await asyncio.sleep(0.05)
                continue
            except httpx.HTTPError as exc:
                if mutation or last:
                    raise UpstreamUnavailable(
                        self.instance, f"instance {self.instance!r} is unreachable"
                    ) from exc
                continue
            status = response.status_code
            if status in ok:
                return response
            if status == 401:
                raise UpstreamUnauthorized(
                    self.instance, f"instance {self.instance!r} rejected execgate's credential"
                )
            if status == 403:
                raise UpstreamForbidden(
                    self.instance,
                    f"instance {self.instance!r} does not allow execgate's credential to do this",
                )
            if status >= 500:
                if status in _RETRYABLE_STATUS and not mutation and not last:
                    await asyncio.sleep(0.05)
                    continue
                raise UpstreamUnavailable(
                    self.instance, f"instance {self.instance!r} answered HTTP {status}"
                )
            if 400 <= status < 500:
                return response
            raise UpstreamBadResponse(
                self.instance, f"instance {self.instance!r} answered unexpected HTTP {status}"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_direct(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        timeout: float | None,
    ) -> Answer:
        """The same request through the aiohttp transport, without httpx's request objects."""
        assert self._direct is not None
        headers = self._headers
        content = None
        if body is not None:
            content = json_module.dumps(body, separators=(",", ":")).encode()
            headers = [*headers, ("Content-Type", "application/json")]
        query = None if params is None else {k: _param(v) for k, v in params.items()}
        status, raw_headers, answer = await self._direct.exchange(
            method,
            self._base + path,
            headers,
            query,
            content,
            connect=self.settings.connect_timeout_seconds,
            read=timeout if timeout is not None else self.settings.timeout_seconds,
        )
        return RawAnswer(status, answer, raw_headers)

    async def _send_read(
        self, path: str, params: Mapping[str, Any] | None, timeout: float | None
    ) -> Answer:
        """A GET through the read pool."""
        assert self._reads is not None
        query = None if params is None else {k: _param(v) for k, v in params.items()}
        status, raw_headers, answer = await self._reads.get(
            path,
            query,
            self._head,
            connect=self.settings.connect_timeout_seconds,
            read=timeout if timeout is not None else self.settings.timeout_seconds,
        )
        return RawAnswer(status, answer, raw_headers)

    def json(self, response: Answer) -> Any:
        """The response body as JSON, or ``UpstreamBadResponse``.

        orjson reads the UTF-8 bodies backends send (several times faster than ``json`` on
        an n8n page with ``includeData``); what it refuses (another charset, a number beyond
        64 bits, ``NaN``) gets a second reading by httpx before the answer counts as bad.
        """
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        try:
            return response.json()
        except ValueError as exc:
            raise UpstreamBadResponse(
                self.instance, f"instance {self.instance!r} answered with a body that is not JSON"
            ) from exc

    def bad(self, what: str) -> BackendError:
        """An ``UpstreamBadResponse`` naming what was wrong with the answer."""
        return UpstreamBadResponse(
            self.instance, f"instance {self.instance!r} answered an unexpected shape: {what}"
        )

    async def aclose(self) -> None:
        if self._reads is not None:
            await self._reads.aclose()
        await self.client.aclose()
