"""The service facade the API layer calls: instances, the merged feed, batched reads.

It validates arguments up front (page size, instance names, cursor), fans out to the backends
named in the filter, and leaves rendering to the API layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from execgate.domain.errors import BackendError, InvalidArgument, NotFound, UnknownInstance
from execgate.domain.keys import WorkflowKey
from execgate.domain.models import (
    Execution,
    ExecutionQuery,
    ExecutionStatus,
    Instance,
    Workflow,
)
from execgate.domain.ports import Backend
from execgate.service.cursors import FeedState, decode_cursor, filter_digest
from execgate.service.feed import FeedPage, read_feed


@dataclass(frozen=True, slots=True)
class FeedFilter:
    """A client's filter, before it is narrowed to each backend."""

    instances: tuple[str, ...] | None = None
    workflow: WorkflowKey | None = None
    statuses: frozenset[ExecutionStatus] = field(default_factory=frozenset)
    started_after: datetime | None = None
    started_before: datetime | None = None

    def digest(self) -> str:
        return filter_digest(
            {
                "i": sorted(self.instances) if self.instances is not None else None,
                "w": list(self.workflow) if self.workflow else None,
                "s": sorted(s.value for s in self.statuses),
                "a": self.started_after.isoformat() if self.started_after else None,
                "b": self.started_before.isoformat() if self.started_before else None,
            }
        )


class Gateway:
    """All instances behind one facade. ``max_first`` bounds the page size a client may ask."""

    def __init__(self, backends: Mapping[str, Backend], *, max_first: int = 100) -> None:
        self.backends = dict(backends)
        self.max_first = max_first

    def instances(self) -> list[Instance]:
        return [Instance(name, b.kind) for name, b in sorted(self.backends.items())]

    def instance(self, name: str) -> Instance | None:
        backend = self.backends.get(name)
        return None if backend is None else Instance(name, backend.kind)

    def backend(self, name: str) -> Backend:
        try:
            return self.backends[name]
        except KeyError:
            raise NotFound(f"no instance named {name!r}") from None

    def _selected(self, feed_filter: FeedFilter) -> list[str]:
        names = sorted(self.backends)
        if feed_filter.instances is not None:
            unknown = sorted(set(feed_filter.instances) - set(names))
            if unknown:
                raise UnknownInstance(
                    f"unknown instance(s): {', '.join(unknown)}; known: {', '.join(names)}"
                )
            names = [n for n in names if n in feed_filter.instances]
        if feed_filter.workflow is not None:
            names = [n for n in names if n == feed_filter.workflow.instance]
            if feed_filter.workflow.instance not in self.backends:
                raise NotFound("no such workflow")
        return names

    def _query(self, feed_filter: FeedFilter, include_nodes: bool) -> ExecutionQuery:
        return ExecutionQuery(
            statuses=feed_filter.statuses,
            workflow_id=feed_filter.workflow.native_id if feed_filter.workflow else None,
            started_after=feed_filter.started_after,
            started_before=feed_filter.started_before,
            include_nodes=include_nodes,
        )

    def check_first(self, first: int | None) -> int:
        if first is None:
            raise InvalidArgument(f"'first' is required (1..{self.max_first})")
        if first < 1 or first > self.max_first:
            raise InvalidArgument(f"'first' must be between 1 and {self.max_first}, got {first}")
        return first

    async def feed(
        self,
        feed_filter: FeedFilter,
        *,
        first: int | None,
        after: str | None,
        include_nodes: bool,
    ) -> FeedPage:
        size = self.check_first(first)
        if (
            feed_filter.started_after
            and feed_filter.started_before
            and feed_filter.started_after > feed_filter.started_before
        ):
            raise InvalidArgument("'startedAfter' is later than 'startedBefore'")
        names = self._selected(feed_filter)
        digest = feed_filter.digest()
        state = decode_cursor(after, digest) if after is not None else FeedState()
        query = self._query(feed_filter, include_nodes)
        streams = {name: (self.backends[name], query) for name in names}
        return await read_feed(streams, state, size, digest=digest, started=after is not None)

    async def count(self, feed_filter: FeedFilter) -> int | None:
        """Exact total when every selected instance reports one, else ``None``."""
        names = self._selected(feed_filter)
        query = self._query(feed_filter, include_nodes=False)
        try:
            totals = await asyncio.gather(
                *(self.backends[n].count_executions(query) for n in names)
            )
        except BackendError:
            return None
        if any(t is None for t in totals):
            return None
        return sum(t for t in totals if t is not None)

    async def get_executions(
        self, instance: str, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        backend = self.backends.get(instance)
        if backend is None:
            return {}
        return await backend.get_executions(native_ids, include_nodes=include_nodes)

    async def get_workflows(
        self, instance: str, native_ids: Sequence[str]
    ) -> Mapping[str, Workflow]:
        backend = self.backends.get(instance)
        if backend is None:
            return {}
        return await backend.get_workflows(native_ids)
