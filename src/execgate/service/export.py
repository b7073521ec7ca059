"""Exports: every execution a filter selects, with its node runs, streamed in the feed's order.

``merged`` reads each selected instance as a stream of pages (n8n lists with ``includeData``
carry the node runs; team-style lists do not, so each page's executions are then read in full,
concurrently within the instance's ``max_concurrency``) and merges the streams k-way by the
feed order (``feed.feed_key``). Each instance reads ahead by at most ``READ_AHEAD`` pages, so
memory stays flat however long the export: a page per instance being written, one being read.

An instance that fails ends the export: ``ExportFailed`` is raised after the last execution
that could still be placed in order, and the writer closes the file with a marker saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from execgate.domain.errors import BackendError
from execgate.domain.models import Execution, ExecutionQuery
from execgate.domain.ports import Backend
from execgate.service.feed import feed_key

PAGE = 100
"""Executions listed per read while exporting."""
READ_AHEAD = 2
"""Pages an instance may have read ahead of the writer."""


class ExportFailed(Exception):
    """An instance failed mid-export; what was written before is in order and complete up to
    the point the export reached."""

    def __init__(self, instance: str, error: BackendError) -> None:
        super().__init__(error.message)
        self.instance = instance
        self.error = error
        self.code = error.code


_END = object()


async def _pages(
    name: str, backend: Backend, query: ExecutionQuery
) -> AsyncIterator[list[Execution]]:
    """One instance's executions, a page at a time, each with its node runs."""
    position: Mapping[str, Any] | None = None
    while True:
        page = await backend.list_executions(query, limit=PAGE, position=position)
        items = list(page.items)
        lacking = [e.native_id for e in items if e.node_executions is None]
        if lacking:
            full = await backend.get_executions(lacking, include_nodes=True)
            # one deleted since it was listed is gone from the export too
            items = [
                e if e.node_executions is not None else full[e.native_id]
                for e in items
                if e.node_executions is not None or e.native_id in full
            ]
        if items:
            yield items
        if page.position is None or not page.items:
            return
        position = page.position


class _Reader:
    """Reads one instance's pages ahead of the merge, into a bounded queue."""

    def __init__(self, name: str, backend: Backend, query: ExecutionQuery) -> None:
        self.name = name
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=READ_AHEAD)
        self.task = asyncio.create_task(self._run(backend, query))

    async def _run(self, backend: Backend, query: ExecutionQuery) -> None:
        try:
            async for page in _pages(self.name, backend, query):
                await self.queue.put(page)
        except BackendError as exc:
            await self.queue.put(ExportFailed(self.name, exc))
            return
        await self.queue.put(_END)

    async def next_page(self) -> list[Execution] | None:
        got = await self.queue.get()
        if isinstance(got, ExportFailed):
            raise got
        return None if got is _END else got


async def merged(
    backends: Mapping[str, Backend], names: Sequence[str], query: ExecutionQuery
) -> AsyncIterator[Execution]:
    """Every execution ``query`` selects on ``names``, with node runs, newest first."""
    query = replace(query, include_nodes=True)
    readers = [_Reader(name, backends[name], query) for name in names]
    try:
        heap: list[tuple[tuple[Any, ...], int, int]] = []
        pages: list[list[Execution]] = [[] for _ in readers]
        for number, reader in enumerate(readers):
            page = await reader.next_page()
            if page:
                pages[number] = page
                heap.append((feed_key(page[0]), number, 0))
        heapq.heapify(heap)
        while heap:
            _, number, index = heapq.heappop(heap)
            page = pages[number]
            yield page[index]
            if index + 1 < len(page):
                heapq.heappush(heap, (feed_key(page[index + 1]), number, index + 1))
                continue
            following = await readers[number].next_page()
            if following:
                pages[number] = following
                heapq.heappush(heap, (feed_key(following[0]), number, 0))
            else:
                pages[number] = []
    finally:
        for reader in readers:
            reader.task.cancel()
        for reader in readers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader.task
