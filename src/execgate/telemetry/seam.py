"""What one request to a backend reports, at the one HTTP seam (``backends.http``).

``BackendObserver.call`` wraps one logical request (its retries included): the instance's
in-flight gauge while it waits, its latency and outcome in the backend histogram, and its span
when tracing is on (``telemetry.tracing``). ``outgoing`` adds what travels with it: the
``X-Request-ID`` of the request being served and, when tracing, the W3C ``traceparent``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from types import TracebackType
from typing import Protocol

from execgate.telemetry import context
from execgate.telemetry.metrics import Metrics


class Span(Protocol):
    """A backend request's span, as the seam sees it (``telemetry.tracing`` makes them)."""

    def inject(self, headers: dict[str, str]) -> None: ...

    def end(self, outcome: str, status: int | None) -> None: ...


class SpanFactory(Protocol):
    def backend(self, instance: str, operation: str, method: str) -> Span: ...


def outcome_of(error: BaseException | None, status: int | None) -> str:
    """A bounded outcome label: ``ok``, ``not_found``, ``refused`` (another 4xx the adapter
    reads), or the domain error's code in lower case (``upstream_timeout``…)."""
    if error is not None:
        code = getattr(error, "code", None)
        return code.lower() if isinstance(code, str) else "error"
    if status is None or status < 400:
        return "ok"
    return "not_found" if status == 404 else "refused"


def outgoing(headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with the served request's ``X-Request-ID`` (when there is one)."""
    found = dict(headers)
    request_id = context.request_id.get()
    if request_id is not None:
        found[context.REQUEST_ID_HEADER] = request_id
    return found


class BackendCall:
    """One logical backend request being measured (a context manager)."""

    __slots__ = ("_metrics", "_span", "_start", "instance", "operation", "status")

    def __init__(
        self, metrics: Metrics | None, span: Span | None, instance: str, operation: str
    ) -> None:
        self._metrics = metrics
        self._span = span
        self._start = 0.0
        self.instance = instance
        self.operation = operation
        self.status: int | None = None
        """The status of the answer handed back, once there is one."""

    def headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """What to send: ``headers``, the request ID and the trace context."""
        found = outgoing(headers)
        if self._span is not None:
            self._span.inject(found)
        return found

    def __enter__(self) -> BackendCall:
        if self._metrics is not None:
            self._metrics.in_flight.labels(self.instance).inc()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        outcome = outcome_of(exc, self.status)
        if self._metrics is not None:
            self._metrics.in_flight.labels(self.instance).dec()
            self._metrics.backend.labels(self.instance, self.operation, outcome).observe(
                time.perf_counter() - self._start
            )
        if self._span is not None:
            self._span.end(outcome, self.status)


class BackendObserver:
    """Where a gateway's backend requests report: metrics, spans, or both."""

    def __init__(self, metrics: Metrics | None = None, spans: SpanFactory | None = None) -> None:
        self.metrics = metrics
        self.spans = spans

    def call(self, instance: str, operation: str, method: str) -> BackendCall:
        span = self.spans.backend(instance, operation, method) if self.spans else None
        return BackendCall(self.metrics, span, instance, operation)
