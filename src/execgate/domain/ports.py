"""The ports the service depends on (ports and adapters): backends, the audit trail, and
what replicas share.

``Backend`` is what every backend adapter implements; ``AuditSink`` is where the service writes
one ``AuditEntry`` per mutation attempt (``security/audit.py`` writes them to a file or stderr);
``SharedExecutions`` is the finished executions the replicas of one gateway share
(``shared/executions.py`` keeps them in Redis); ``Relay`` shares each instance's live poll
between them (``shared/live.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Broadcast, Receive
from execgate.domain.models import (
    BackendKind,
    Capability,
    CostModel,
    Execution,
    ExecutionQuery,
    Page,
    Watch,
    Workflow,
)


class Backend(Protocol):
    """One workflow-automation instance, spoken to through its own API.

    Streams: ``list_executions`` returns items in the feed order for that instance (newest
    first by ``Execution.sort_time``, ties by native id descending) starting strictly after
    ``position`` (``None``: from the newest). Every item matches the whole query, whatever the
    backend could push down. Reads may be retried by the adapter; mutations never are.
    """

    name: str
    kind: BackendKind

    def capabilities(self) -> frozenset[Capability]: ...

    def costs(self) -> CostModel:
        """What this instance's reads cost in requests (for the query cost estimate)."""
        ...

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page: ...

    async def watch(self, recent: int) -> Watch:
        """The newest ``recent`` executions and every active one, read with the fewest requests
        this API allows (``CostModel.watch_reads``), for the live poller."""
        ...

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        """The resume position right after the last of ``consumed``.

        ``consumed`` is a non-empty prefix of a page read from ``previous``, in stream order;
        the service consumes only part of a page when it merges instances. ``page`` is that
        page, when the caller has it: what it learned beyond ``consumed`` (``Page.carry``)
        is kept in the position.
        """
        ...

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        """The exact number of executions matching ``query``, or ``None`` if not cheaply known."""
        ...

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        """Read several executions; ids that do not exist are absent from the result."""
        ...

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        """Read several workflows; ids that do not exist are absent from the result."""
        ...

    async def cancel(self, native_id: str) -> Execution | None:
        """Stop a running, pending or waiting execution; returns its new state when known."""
        ...

    async def retry(self, native_id: str) -> Execution:
        """Run a finished execution again; returns the new execution."""
        ...

    async def delete(self, native_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One mutation attempt (or export): who, what, on which execution, how it ended, how long
    it took.

    ``execution_id`` is the ID as the client gave it (``None`` when it could not be read);
    ``outcome`` is ``OK`` or the error code. An export has no execution: it names its filter,
    the rows and bytes it wrote. Never a key, a credential or execution data.
    """

    client: str
    action: str
    execution_id: str | None
    instance: str | None
    outcome: str
    latency_ms: float
    filter: Mapping[str, Any] | None = field(default=None, compare=False)
    rows: int | None = None
    bytes: int | None = None


class AuditSink(Protocol):
    """Where audit entries go (the writer adds the time)."""

    def record(self, entry: AuditEntry) -> None: ...


class SharedExecutions(Protocol):
    """Finished executions with their nodes, shared by the replicas of one gateway.

    Never fails: a store that cannot be reached answers nothing found and keeps nothing, and
    each replica goes on with its own cache.
    """

    async def get_many(self, keys: Sequence[ExecutionKey]) -> Mapping[ExecutionKey, Execution]: ...

    async def put_many(self, executions: Sequence[Execution]) -> None: ...

    async def drop(self, key: ExecutionKey) -> None: ...


class Relay(Protocol):
    """How replicas share each instance's live poll (``shared/live.py`` over Redis implements
    it; ``LiveHub`` uses it when ``[shared] redis_url`` is set).

    A ``Relay`` gives the poll of an instance to one replica at a time — a lease that its holder
    renews every poll interval and that expires when the holder is gone — and carries each
    ``Broadcast`` of that replica to the others' subscribers. It never raises: a lease it cannot
    ask about is ``None`` (each replica then polls on its own), a broadcast it cannot send is
    dropped.
    """

    async def claim(self, instance: str, ttl: float) -> bool | None:
        """Take or renew the lease of ``instance``'s poll for ``ttl`` seconds: ``True`` when
        this replica holds it now, ``False`` when another does, ``None`` when it cannot
        say (the shared store does not answer)."""
        ...

    async def release(self, instance: str) -> None:
        """Give the lease up, if this replica holds it."""
        ...

    async def send(self, broadcast: Broadcast) -> bool:
        """Pass ``broadcast`` on to the other replicas (``False``: it could not)."""
        ...

    async def follow(self, instance: str, receive: Receive, ready: Callable[[], None]) -> None:
        """Until cancelled: hand every broadcast of another replica about ``instance`` to
        ``receive``; call ``ready`` each time it starts listening (again)."""
        ...
