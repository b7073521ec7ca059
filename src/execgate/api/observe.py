"""What each GraphQL operation reports: its metrics, its span, and its name for the log lines.

``OperationMetrics`` is a schema extension (one per operation, like strawberry's own): it times
the whole operation — parsing, validation, the limits and execution — and records it by name,
type and outcome in ``telemetry.metrics``:

- ``ok``: executed without an error;
- ``error``: executed, with errors (a backend that failed, a field refused);
- ``rejected``: refused before execution (a document that does not parse or validate, the
  limits, an unknown ``operationName``): no ``data``, and no error with a ``path``.

Once the document is known, the operation's name is set in ``telemetry.context`` for the log
lines written while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from strawberry.extensions import SchemaExtension

from execgate.api.context import Context
from execgate.telemetry import context
from execgate.telemetry.metrics import Metrics

UNKNOWN = "unknown"
"""The type label of an operation whose document never parsed."""


def outcome(data: object, errors: Sequence[object] | None) -> str:
    """``ok``, ``error`` or ``rejected`` (see the module's docstring)."""
    if not errors:
        return "ok"
    if data is None and all(getattr(e, "path", None) is None for e in errors):
        return "rejected"
    return "error"


class OperationName(SchemaExtension):
    """Names the operation in ``telemetry.context`` once its document is known."""

    def on_execute(self) -> Iterator[None]:
        context.operation_name.set(self.execution_context.operation_name)
        yield


class NamedSpan(Protocol):
    def named(self, name: str | None, kind: str, outcome: str) -> None: ...


class OperationTracer(Protocol):
    """Spans of operations (``telemetry.tracing.Tracing``)."""

    def operation(self) -> AbstractContextManager[NamedSpan]: ...


class OperationMetrics(SchemaExtension):
    """Records each operation in the metrics and, when tracing, as a span."""

    def __init__(self, metrics: Metrics | None, tracing: OperationTracer | None = None) -> None:
        self.metrics = metrics
        self.tracing = tracing

    def on_operation(self) -> Iterator[None]:
        if self.tracing is None:
            yield from self._measured(None)
            return
        with self.tracing.operation() as span:
            yield from self._measured(span)

    def _measured(self, span: NamedSpan | None) -> Iterator[None]:
        started = time.perf_counter()
        yield
        execution = self.execution_context
        result = execution.result
        errors = list(result.errors or []) if result is not None else []
        errors = errors or list(execution.pre_execution_errors or [])
        data = result.data if result is not None else None
        try:
            kind = execution.operation_type.value
        except Exception:  # no document, or an operationName it does not hold
            kind = UNKNOWN
        try:
            name = execution.operation_name
        except Exception:
            name = None
        state = outcome(data, errors)
        if self.metrics is not None:
            self.metrics.operation(name, kind, state, time.perf_counter() - started)
        if span is not None:
            span.named(name, kind, state)
        if isinstance(execution.context, Context):
            execution.context.measured = True


def record_unmeasured(
    metrics: Metrics, context: Context, name: object, result: object, started: float
) -> None:
    """An operation the view refused before the schema ran it (a document that does not
    parse, an ``operationName`` it does not hold, a mutation sent with GET): ``rejected``."""
    if context.measured:
        return
    errors = getattr(result, "errors", None)
    label = name if isinstance(name, str) else None
    state = outcome(getattr(result, "data", None), errors) if errors else "rejected"
    metrics.operation(label, UNKNOWN, state, time.perf_counter() - started)


def operation_metrics(
    metrics: Metrics | None, tracing: OperationTracer | None = None
) -> Callable[[], SchemaExtension]:
    """The extension factory ``build_schema`` takes."""
    return lambda: OperationMetrics(metrics, tracing)
