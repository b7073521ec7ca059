"""The per-request context: the gateway, fresh loaders, and errors to report beside data.

The gateway in the context is already scoped to the request's client (``Gateway.scoped``), and
the loaders are built over it, so nothing a resolver reads can reach outside that scope.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from strawberry.types import Info as StrawberryInfo

from execgate.api.loaders import Loaders
from execgate.domain.models import NodeExecution
from execgate.lru import LRU
from execgate.service.gateway import Gateway

T = TypeVar("T")

NodeRuns = tuple[NodeExecution, ...]


class NodeRunsMemo:
    """The API node runs of recently read executions, converted once rather than per request.

    A finished execution's node runs come back as the same tuple on every poll (the execution
    cache holds it), so its conversion is kept, keyed by the tuple's identity: the tuple is
    kept with its entry, so that identity cannot be reused meanwhile. At most ``size``
    executions' runs, least recently used first out. The converted objects are shared between
    requests; nothing changes them.
    """

    def __init__(self, size: int) -> None:
        """``size`` 0 remembers nothing (without an execution cache, no tuple comes back)."""
        self._runs: LRU[int, tuple[NodeRuns, list[Any]]] = LRU(size)

    def __len__(self) -> int:
        return len(self._runs)

    def of(self, runs: NodeRuns, convert: Callable[[NodeExecution], T]) -> list[T]:
        """``runs`` converted by ``convert``, in a list of its own."""
        if not self._runs.size:
            return [convert(n) for n in runs]
        entry = self._runs.get(id(runs))
        if entry is not None and entry[0] is runs:
            return list(entry[1])
        converted = [convert(n) for n in runs]
        self._runs.put(id(runs), (runs, converted))
        return list(converted)


@dataclass(frozen=True, slots=True)
class PartialError:
    """An error reported beside data (one instance failed; the others answered)."""

    path: tuple[str | int, ...]
    message: str
    code: str
    instance: str


@dataclass
class Context:
    gateway: Gateway
    loaders: Loaders
    request: Any = None
    partial_errors: list[PartialError] = field(default_factory=list)
    node_runs: NodeRunsMemo | None = None
    """The schema's memo of converted node runs (``None``: convert every time)."""
    operation_named: bool = True
    """Whether the request named the operation to run (``api/operation.py``)."""
    measured: bool = False
    """Whether the operation's metrics were recorded (``api/observe.py``)."""


Info = StrawberryInfo[Context, None]


def build_context(
    gateway: Gateway, request: Any = None, *, node_runs: NodeRunsMemo | None = None
) -> Context:
    return Context(gateway=gateway, loaders=Loaders(gateway), request=request, node_runs=node_runs)
