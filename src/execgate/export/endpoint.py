"""``GET /export``: the executions a filter selects, streamed as CSV, JSON or JSON lines.

Behind ``ExportGuard`` (``security/middleware.py``: the client key, its rate limit), the
endpoint checks the client's ``export`` action (403 ``FORBIDDEN`` without it) and the
parameters (``export/params.py``; 400 with a GraphQL-shaped body and a code otherwise), then
streams the answer in chunks as the service reads it, in the feed's order, with a
``Content-Disposition`` file name. Memory stays flat: the service reads a page per instance
ahead, and the endpoint sends every ``CHUNK`` bytes.

An instance that fails mid-export ends the file with the writer's marker
(``#EXPORT INCOMPLETE…`` / ``{"exportIncomplete": …}``), and the response is then left
unfinished (no closing chunk), so an HTTP client sees a broken transfer (curl exits with 18)
rather than a short file that looks whole. A client that goes away stops the reading.

Every export writes one audit line through the service: the client, the filter, the rows and
bytes written and the outcome (``OK``, the refusal's code, the failed instance's code, or
``CLIENT_CLOSED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.types import Message, Receive, Scope, Send

from execgate.domain.access import Action
from execgate.domain.access import Scope as ClientScope
from execgate.domain.errors import ExecgateError, Forbidden
from execgate.domain.models import Execution
from execgate.export.formats import MEDIA_TYPES, Writer, filename
from execgate.export.params import ExportParams, parse
from execgate.service.export import ExportFailed
from execgate.service.gateway import Gateway
from execgate.service.masking import Masker

log = logging.getLogger("execgate.export")

CHUNK = 64 * 1024
"""Bytes gathered before a chunk is sent."""


async def _refuse(send: Send, status: int, message: str, code: str) -> None:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 405:
        headers.append((b"allow", b"GET"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _watch(receive: Receive, gone: asyncio.Event) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            gone.set()
            return


class ExportEndpoint:
    """The ASGI app of ``/export`` over the gateway ``gateway()`` returns."""

    def __init__(
        self,
        gateway: Callable[[], Gateway],
        scope_of: Callable[[Scope], ClientScope | None],
        *,
        default_days: int,
    ) -> None:
        self.gateway = gateway
        self.scope_of = scope_of
        self.default_days = default_days

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = self.scope_of(scope)
        gateway = self.gateway().scoped(client or ClientScope.nothing())
        started = time.perf_counter()
        if scope.get("method") != "GET":
            await _refuse(send, 405, "export with GET", "METHOD_NOT_ALLOWED")
            return
        query: dict[str, list[str]] = {}
        raw = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(raw, keep_blank_values=True):
            query.setdefault(name, []).append(value)
        params: ExportParams | None = None
        try:
            if not gateway.allows(Action.EXPORT):
                raise Forbidden(f"client {gateway.scope.client!r} may not export executions")
            params = parse(query, now=gateway.now(), default_days=self.default_days)
            stream = gateway.export(params.filter)
        except ExecgateError as exc:
            described: dict[str, Any] = params.described() if params else {"query": raw[:500]}
            gateway.record_export(
                described,
                rows=0,
                size=0,
                outcome=exc.code,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
            status = 403 if isinstance(exc, Forbidden) else 400
            await _refuse(send, status, exc.message, exc.code)
            return
        await self._stream(gateway, params, stream, receive, send, started)

    async def _stream(
        self,
        gateway: Gateway,
        params: ExportParams,
        stream: AsyncIterator[Execution],
        receive: Receive,
        send: Send,
        started: float,
    ) -> None:
        masker = gateway.masker or Masker((), ())
        writer = Writer(params.format, masker, include_data=params.include_data)
        name = filename(params.format, params.days, gateway.now())
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", MEDIA_TYPES[params.format].encode()),
                    (b"content-disposition", f'attachment; filename="{name}"'.encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        gone = asyncio.Event()
        watcher = asyncio.create_task(_watch(receive, gone))
        size = 0
        outcome = "OK"
        pending: list[str] = [writer.header()]
        held = len(pending[0])

        async def flush(*, more: bool = True) -> None:
            nonlocal size, held
            body = "".join(pending).encode()
            pending.clear()
            held = 0
            size += len(body)
            message: Message = {"type": "http.response.body", "body": body, "more_body": more}
            await send(message)

        try:
            try:
                async for execution in stream:
                    chunk = writer.execution(execution)
                    pending.append(chunk)
                    held += len(chunk)
                    if held >= CHUNK:
                        await flush()
                    if gone.is_set():
                        outcome = "CLIENT_CLOSED"
                        return
            except ExportFailed as failed:
                outcome = failed.code
                message = gateway.redact(failed.error.message) if gateway.redact else "failed"
                pending.append(writer.failure(failed.instance, failed.code, message))
                await flush()
                log.warning(
                    "export for client %r ended incomplete after %d rows: instance %r failed (%s)",
                    gateway.scope.client,
                    writer.rows,
                    failed.instance,
                    failed.code,
                )
                return  # the response stays unfinished: the client sees a broken transfer
            pending.append(writer.footer())
            await flush(more=False)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            gateway.record_export(
                params.described(),
                rows=writer.rows,
                size=size,
                outcome=outcome,
                latency_ms=(time.perf_counter() - started) * 1000,
            )
