"""What every adapter's request goes through: limits, retries, and failures as domain errors.

``BackendHTTP.request`` sends one logical request through the instance's ``Transport`` (the
seam of ``backends.transport``, which keeps at most ``max_concurrency`` in flight), a read
sent at most ``1 + read_retries`` times (only when no connection could be made, the connection
was lost, or the backend answered 502/503/504 — never after a timeout), a mutation sent exactly
once. Transport failures and backend status codes become the domain's error tree here, in
one place; messages name the instance, never its URL or credential.
"""

from __future__ import annotations

import asyncio
import json as json_module
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import orjson

from execgate.backends.transport import (
    AnswerTooLarge,
    BadAnswer,
    ConnectFailed,
    Request,
    Response,
    TimedOut,
    Transport,
    TransportError,
)
from execgate.domain.deadline import remaining
from execgate.domain.errors import (
    BackendError,
    UpstreamBadResponse,
    UpstreamForbidden,
    UpstreamTimeout,
    UpstreamUnauthorized,
    UpstreamUnavailable,
)
from execgate.telemetry.seam import BackendObserver, outgoing

_RETRYABLE_STATUS = frozenset({502, 503, 504})
_RETRY_PAUSE = 0.05
OFF_LOOP_JSON = 1024 * 1024
"""Bodies larger than this are decoded in a worker thread, so the event loop keeps serving."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How one instance's requests are sent (the config's per-instance settings, in seconds)."""

    timeout: float
    connect_timeout: float
    mutation_timeout: float
    retry_timeout: float
    read_retries: int
    max_response_bytes: int


def _param(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


class BackendHTTP:
    """Sends one instance's requests and turns failures into ``BackendError`` subclasses."""

    def __init__(
        self,
        instance: str,
        transport: Transport,
        base_url: str,
        headers: Mapping[str, str],
        policy: Policy,
        observer: BackendObserver | None = None,
    ) -> None:
        self.instance = instance
        self.observer = observer
        """Where each request reports (metrics, spans); without one, only the request ID
        travels."""
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers)
        self.policy = policy
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
        operation: str = "request",
    ) -> Response:
        """Send a request; return the response if its status is in ``ok`` or is 4xx.

        401, 403, 5xx and transport failures raise. Other 4xx come back to the adapter, which
        knows what they mean for its API (404 not found, 409 conflict, ...). ``operation``
        names the request in metrics and spans (a fixed word, never an id); every request
        carries the served request's ``X-Request-ID``.
        """
        if self.observer is None:
            return await self._send(
                method, path, params, json, mutation, timeout, ok, outgoing(self.headers)
            )
        with self.observer.call(self.instance, operation, method) as call:
            response = await self._send(
                method, path, params, json, mutation, timeout, ok, call.headers(self.headers)
            )
            call.status = response.status_code
            return response

    async def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        mutation: bool,
        timeout: float | None,
        ok: frozenset[int],
        headers: Mapping[str, str],
    ) -> Response:
        url = self.base_url + path
        if params:
            url += "?" + urlencode({k: _param(v) for k, v in params.items()})
        body = None
        if json is not None:
            body = orjson.dumps(json)
            headers = {**headers, "Content-Type": "application/json"}
        policy = self.policy
        if timeout is None:
            timeout = policy.mutation_timeout if mutation else policy.timeout
        request = Request(
            method,
            url,
            headers,
            body,
            timeout,
            policy.connect_timeout,
            policy.max_response_bytes,
            mutation,
        )
        attempts = 1 if mutation else 1 + policy.read_retries
        for attempt in range(1, attempts + 1):
            retry = attempt < attempts
            try:
                attempt_request = self._within_deadline(request)
                self.calls += 1
                response = await self.transport.send(attempt_request)
            except TransportError as exc:
                if retry and not isinstance(exc, TimedOut | BadAnswer | AnswerTooLarge):
                    await asyncio.sleep(_RETRY_PAUSE)
                    continue
                raise self.failure(exc, mutation) from exc
            status = response.status_code
            if status in _RETRYABLE_STATUS and retry:
                await asyncio.sleep(_RETRY_PAUSE)
                continue
            return self._checked(response, ok, mutation)
        raise AssertionError("unreachable")  # pragma: no cover

    def _within_deadline(self, request: Request) -> Request:
        """``request`` shortened to what is left of the request's deadline, if that is less;
        ``TimedOut`` (nothing sent) once it has passed."""
        left = remaining()
        if left is None or left >= request.timeout:
            return request
        if left <= 0:
            raise TimedOut("the request's time ran out before this call", sent=False)
        return replace(request, timeout=left)

    def failure(self, exc: TransportError, mutation: bool) -> BackendError:
        """A transport failure as the domain error the client sees."""
        name = self.instance
        error: BackendError
        if isinstance(exc, ConnectFailed):
            error = UpstreamUnavailable(name, f"instance {name!r} could not be reached: {exc}")
        elif isinstance(exc, TimedOut):
            error = UpstreamTimeout(name, f"instance {name!r} did not answer in time")
        elif isinstance(exc, BadAnswer | AnswerTooLarge):
            error = UpstreamBadResponse(name, f"instance {name!r} sent {exc}")
        else:
            error = UpstreamUnavailable(name, f"instance {name!r}: {exc}")
        if mutation and exc.sent:
            error.outcome_unknown = True
            error.message += "; the outcome of the action is unknown"
        return error

    def _checked(self, response: Response, ok: frozenset[int], mutation: bool) -> Response:
        status = response.status_code
        name = self.instance
        if status in ok or (400 <= status < 500 and status not in (401, 403)):
            return response
        if status == 401:
            raise UpstreamUnauthorized(name, f"instance {name!r} rejected execgate's credential")
        if status == 403:
            raise UpstreamForbidden(
                name, f"instance {name!r} does not allow execgate's credential to do this"
            )
        if status >= 500:
            error = UpstreamUnavailable(name, f"instance {name!r} answered HTTP {status}")
            if mutation and status not in (501, 503):
                # The backend or a proxy in front of it failed after the request arrived: it
                # may have acted all the same, so the action is reconciled by reading. 501 and
                # 503 say the request was not handled at all.
                error.outcome_unknown = True
            raise error
        raise UpstreamBadResponse(name, f"instance {name!r} answered unexpected HTTP {status}")

    async def json(self, response: Response) -> Any:
        """The response body as JSON, or ``UpstreamBadResponse``.

        orjson reads the UTF-8 bodies backends send; what it refuses (another charset, a
        number beyond 64 bits, ``NaN``) gets a second reading by the standard library. A large
        body is decoded in a worker thread.
        """
        content = response.content
        try:
            if len(content) > OFF_LOOP_JSON:
                return await asyncio.to_thread(orjson.loads, content)
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            pass
        try:
            return json_module.loads(content)
        except (ValueError, RecursionError) as exc:
            raise self.bad("a body that is not JSON") from exc

    def bad(self, what: str) -> BackendError:
        """An ``UpstreamBadResponse`` naming what was wrong with the answer."""
        return UpstreamBadResponse(
            self.instance, f"instance {self.instance!r} answered an unexpected shape: {what}"
        )
