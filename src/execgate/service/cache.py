"""A cache of finished executions shared across requests, and in-flight coalescing.

A finished execution never changes, so once read in full (with its nodes) it is kept, bounded by
entries and by an estimate of its size in bytes, least recently used first out. An entry also
expires after ``ttl_seconds``, so a deletion made outside the gateway is noticed. Active
executions (pending, running, waiting) are never cached: their next read may differ.

``CachedBackend`` wraps any ``Backend``: detail reads are answered from the cache where they can
be; executions that arrive in full from a list are remembered; identical reads in flight at the
same time share one backend call; a delete through the gateway drops the entry. With a
``SharedExecutions`` (Redis, shared by the replicas), what this cache lacks is asked there
before any backend, and what a backend answered is shared. Mutations pass
straight through, never coalesced, never retried.

A backend whose lists can carry node data (n8n's ``includeData``) is listed without it once
the cache holds most of what its last full list brought (a dashboard polling its feed, with a
new cursor or date each time): the executions are filled from the cache, the few it lacks read
one by one. When more are missing, the full list is read instead, and lists stay full until
the cache has caught up again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from execgate.domain.errors import PartialRead
from execgate.domain.keys import ExecutionKey
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
from execgate.domain.ports import Backend, SharedExecutions

T = TypeVar("T")

LEAN_MISSES = 4
"""A lean page may read this many executions one by one (or a third of the page, up to
``LEAN_MISSES_MOST``): the active ones at the head of a polled page, mostly. Each costs a
request, but a full n8n list re-sends every execution's run data: a page of 21 with five
running executions cost 2.1 ms of the gateway's CPU per poll read lean (with five single
reads) against 4.7 ms read in full."""

LEAN_MISSES_MOST = 16
"""The most single reads one lean page may send (they go out at once: an instance's pool holds
16 connections by default)."""


def estimate_size(value: Any, _depth: int = 0) -> int:
    """A cheap estimate of the bytes a JSON-shaped value holds (enough for a memory bound)."""
    if value is None or isinstance(value, bool | int | float):
        return 8
    if isinstance(value, str):
        return 49 + len(value)
    if _depth > 32:
        return 64
    if isinstance(value, Mapping):
        return 64 + sum(
            estimate_size(k, _depth + 1) + estimate_size(v, _depth + 1) for k, v in value.items()
        )
    if isinstance(value, list | tuple):
        return 56 + sum(estimate_size(v, _depth + 1) for v in value)
    return 64


def execution_size(execution: Execution) -> int:
    size = 512 + estimate_size(execution.input_data) + estimate_size(execution.output_data)
    for node in execution.node_executions or ():
        size += 256 + estimate_size(node.input_data) + estimate_size(node.output_data)
    return size


def _lean_misses(limit: int) -> int:
    return max(LEAN_MISSES, min(limit // 3, LEAN_MISSES_MOST))


class ExecutionCache:
    """LRU of finished executions with nodes, keyed by ``ExecutionKey``."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: OrderedDict[ExecutionKey, tuple[Execution, int, float]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: ExecutionKey) -> Execution | None:
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        execution, _, stored = entry
        if self.clock() - stored > self.ttl_seconds:
            self.drop(key)
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return execution

    def holds(self, key: ExecutionKey) -> bool:
        """Whether ``get`` would answer ``key`` now (without counting a hit or a miss)."""
        entry = self._entries.get(key)
        return entry is not None and self.clock() - entry[2] <= self.ttl_seconds

    def put(self, execution: Execution) -> None:
        if not execution.status.is_finished or execution.node_executions is None:
            return
        known = self._entries.get(execution.key)
        if known is not None and known[0].status is execution.status:
            # Seen again (a dashboard polling the same page): a finished execution has not
            # changed, so only its age and place in the LRU are renewed, not its size.
            self._entries[execution.key] = (known[0], known[1], self.clock())
            self._entries.move_to_end(execution.key)
            return
        size = execution_size(execution)
        if size > self.max_bytes:
            return
        self.drop(execution.key)
        self._entries[execution.key] = (execution, size, self.clock())
        self.bytes += size
        while self._entries and (
            len(self._entries) > self.max_entries or self.bytes > self.max_bytes
        ):
            _, (_, old_size, _) = self._entries.popitem(last=False)
            self.bytes -= old_size

    def drop(self, key: ExecutionKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]


class Coalescer:
    """Shares one in-flight call among identical concurrent requests."""

    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        existing = self._inflight.get(key)
        if existing is not None:
            result: T = await asyncio.shield(existing)
            return result
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await call()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(value)
            return value
        finally:
            del self._inflight[key]


def _freeze(value: Any) -> Hashable:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return tuple(sorted((_freeze(v) for v in value), key=repr))
    return value  # type: ignore[no-any-return]


class CachedBackend:
    """A ``Backend`` that answers finished executions from an ``ExecutionCache``."""

    def __init__(
        self, inner: Backend, cache: ExecutionCache, shared: SharedExecutions | None = None
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.shared = shared
        """The replicas' shared cache (Redis), asked for what this one lacks."""
        self.name = inner.name
        self.kind: BackendKind = inner.kind
        self._coalesce = Coalescer()
        self._lean = False
        """Whether lists with node data are read lean: set when the cache holds most of what
        the last list read in full brought, cleared when a lean read missed too many. It
        follows what this instance's readers asked for lately, whatever their filters and
        cursors, so distinct requests benefit as much as repeated ones."""

    def capabilities(self) -> frozenset[Capability]:
        return self.inner.capabilities()

    def costs(self) -> CostModel:
        return self.inner.costs()

    def position_after(
        self,
        previous: Mapping[str, Any] | None,
        consumed: Sequence[Execution],
        page: Page | None = None,
    ) -> Mapping[str, Any]:
        return self.inner.position_after(previous, consumed, page)

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        key = ("list", query, limit, _freeze(position))
        batch = query.include_nodes and Capability.BATCH_NODE_DATA in self.inner.capabilities()
        if batch and self._lean:
            lean = await self._lean_page(query, limit, position)
            if lean is not None:
                return lean
            self._lean = False
        page = await self._coalesce.run(
            key, lambda: self.inner.list_executions(query, limit=limit, position=position)
        )
        if self.shared is not None:
            await self.shared.put_many([i for i in page.items if not self.cache.holds(i.key)])
        for item in page.items:
            self.cache.put(item)
        if batch:
            # What a poll of this page would find in the cache now (active ones never are).
            known = sum(1 for item in page.items if self.cache.holds(item.key))
            self._lean = len(page.items) - known <= _lean_misses(limit)
        return self._with_cached_details(page)

    async def watch(self, recent: int) -> Watch:
        """The live poll, never coalesced or cached: each poller reads its own state."""
        return await self.inner.watch(recent)

    async def _lean_page(
        self, query: ExecutionQuery, limit: int, position: Mapping[str, Any] | None
    ) -> Page | None:
        """A page read again without node data, filled from the cache; ``None`` when too many
        of its executions are not there (the full list is then cheaper).

        A backend whose list can carry node data (n8n's ``includeData``) sends much more for
        it; a page polled again mostly lists finished executions the cache holds in full.
        What the cache lacks (running executions, new ones) is read one by one.
        """
        lean_query = replace(query, include_nodes=False)
        page = await self._coalesce.run(
            ("list", lean_query, limit, _freeze(position)),
            lambda: self.inner.list_executions(lean_query, limit=limit, position=position),
        )
        items = list(self._with_cached_details(page).items)
        missing = [i for i, item in enumerate(items) if item.node_executions is None]
        if len(missing) > _lean_misses(limit):
            return None
        if missing:
            found = await self.get_executions(
                [items[i].native_id for i in missing], include_nodes=True
            )
            for i in missing:
                detail = found.get(items[i].native_id)
                if detail is None:
                    return None  # deleted since it was listed: the full list decides
                items[i] = detail
        return replace(page, items=tuple(items), calls=page.calls + len(missing))

    def _with_cached_details(self, page: Page) -> Page:
        """Give listed finished executions what the cache already holds for them.

        The listed fields stay as the backend just answered them; only what a finished
        execution can no longer change (its node runs, input and output, and the workflow name
        and error message a list without node data leaves out) comes from the cache, so asking
        for ``nodeExecutions`` on a polled page needs no detail read at all.
        """
        items = list(page.items)
        changed = False
        for index, item in enumerate(items):
            if item.node_executions is not None or not item.status.is_finished:
                continue
            cached = self.cache.get(item.key)
            if cached is None or cached.status is not item.status:
                continue
            items[index] = replace(
                item,
                node_executions=cached.node_executions,
                input_data=cached.input_data,
                output_data=cached.output_data,
                workflow_name=item.workflow_name or cached.workflow_name,
                error_message=item.error_message or cached.error_message,
            )
            changed = True
        return replace(page, items=tuple(items)) if changed else page

    async def count_executions(self, query: ExecutionQuery) -> int | None:
        return await self._coalesce.run(
            ("count", query), lambda: self.inner.count_executions(query)
        )

    async def get_executions(
        self, native_ids: Sequence[str], *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        found: dict[str, Execution] = {}
        missing: list[str] = []
        for native_id in native_ids:
            cached = self.cache.get(ExecutionKey(self.name, native_id))
            if cached is not None:
                found[native_id] = cached
            else:
                missing.append(native_id)
        if missing and self.shared is not None:
            shared = await self.shared.get_many([ExecutionKey(self.name, m) for m in missing])
            for execution in shared.values():
                self.cache.put(execution)
                found[execution.native_id] = execution
            missing = [m for m in missing if m not in found]
        if missing:
            key = ("get", tuple(missing), include_nodes)
            try:
                fetched = await self._coalesce.run(
                    key, lambda: self.inner.get_executions(missing, include_nodes=include_nodes)
                )
            except PartialRead as partial:
                # What was read is kept (and answered) all the same.
                for native_id, execution in partial.found.items():
                    self.cache.put(execution)
                    found[native_id] = execution
                raise PartialRead(self.name, found, partial.failed) from partial
            for native_id, execution in fetched.items():
                self.cache.put(execution)
                found[native_id] = execution
            if self.shared is not None:
                await self.shared.put_many(list(fetched.values()))
        return found

    async def get_workflows(self, native_ids: Sequence[str]) -> Mapping[str, Workflow]:
        return await self._coalesce.run(
            ("workflows", tuple(native_ids)), lambda: self.inner.get_workflows(native_ids)
        )

    async def _drop(self, native_id: str) -> None:
        key = ExecutionKey(self.name, native_id)
        self.cache.drop(key)
        if self.shared is not None:
            await self.shared.drop(key)

    async def cancel(self, native_id: str) -> Execution | None:
        await self._drop(native_id)
        return await self.inner.cancel(native_id)

    async def retry(self, native_id: str) -> Execution:
        try:
            return await self.inner.retry(native_id)
        finally:
            # The original gains a retrySuccessId when the retry succeeded (or may have).
            await self._drop(native_id)

    async def delete(self, native_id: str) -> None:
        try:
            await self.inner.delete(native_id)
        finally:
            await self._drop(native_id)
