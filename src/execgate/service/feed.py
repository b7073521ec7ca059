"""The merged executions feed: one newest-first list across instances, paged by cursors.

Each selected instance is read as a stream in its own order from the position the cursor
remembers for it; the streams are merged k-way by the feed order (newest ``sort_time`` first,
then instance name, then native id descending, numerically where ids are numbers). One page
reads at most ``first`` items from each instance, so the gateway never scans a backend.
``hasNextPage`` is exact because each adapter's position is: ``None`` exactly when its stream
has nothing more (n8n's ``nextCursor`` is computed with a count, the team-style API reports
its total), so there is a next page exactly when an item was read but not used or a stream
still has a position.

An instance that fails is skipped for this page: its error is reported and the cursor keeps its
old position, so the next page resumes it once it is back.
"""

from __future__ import annotations

import asyncio
import heapq
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from execgate.domain.errors import BackendError
from execgate.domain.keys import as_number
from execgate.domain.models import Execution, ExecutionQuery, Page, Unreadable
from execgate.domain.ports import Backend
from execgate.service.cursors import Cursors, FeedState


def feed_key(execution: Execution) -> tuple[Any, ...]:
    """Ascending sort key that puts executions in feed order (newest first).

    An execution with no time at all (queued, and listed without its creation time) counts as
    the newest: it was queued recently, and it sits at the head of its instance's stream.
    """
    moment = execution.sort_time
    native = execution.native_id
    number = as_number(native)
    return (
        -math.inf if moment is None else -moment.timestamp(),
        execution.instance,
        0 if number is not None else 1,
        -number if number is not None else _Reversed(native),
    )


class _Reversed:
    """Wraps a string so that it sorts in descending order inside an ascending key."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)


@dataclass(frozen=True, slots=True)
class SkippedInstance:
    instance: str
    error: BackendError


@dataclass(frozen=True, slots=True)
class FeedEdge:
    """One item of a page and the feed state right after it (its cursor).

    The state is worked out when it is asked for: a page whose cursors nobody selects never
    pays for them, and one that does pays per edge, not per edge times the page.
    """

    node: Execution
    state_of: Callable[[], FeedState] = field(compare=False, repr=False)

    @property
    def state(self) -> FeedState:
        return self.state_of()


@dataclass(frozen=True, slots=True)
class _Progress:
    """How far a page read each stream; ``state_at`` turns item counts into a feed state."""

    start: FeedState
    streams: Mapping[str, tuple[Backend, ExecutionQuery]]
    pages: Mapping[str, Page]

    def state_at(self, counts: tuple[tuple[str, int], ...]) -> FeedState:
        current = self.start
        for name, count in counts:
            if count:
                backend = self.streams[name][0]
                page = self.pages[name]
                position = backend.position_after(
                    self.start.positions.get(name), page.items[:count], page
                )
                current = current.advanced(name, position)
        return current


@dataclass(frozen=True, slots=True)
class FeedPage:
    edges: tuple[FeedEdge, ...]
    has_next_page: bool
    has_previous_page: bool
    end_state: FeedState
    skipped: tuple[SkippedInstance, ...] = ()
    unreadable: tuple[Unreadable, ...] = ()
    """Records the instances listed for this page that could not be read (left out)."""
    cursors: Cursors | None = field(default=None, compare=False)

    def cursor(self, state: FeedState) -> str:
        assert self.cursors is not None
        return self.cursors.encode(state)


async def _read(
    backend: Backend, query: ExecutionQuery, limit: int, position: Mapping[str, Any] | None
) -> Page:
    return await backend.list_executions(query, limit=limit, position=position)


async def read_feed(
    streams: Mapping[str, tuple[Backend, ExecutionQuery]],
    state: FeedState,
    first: int,
    *,
    cursors: Cursors,
    started: bool,
) -> FeedPage:
    """Read one page of ``first`` executions across ``streams`` resuming from ``state``.

    ``started`` says whether ``state`` came from a cursor (so a previous page exists).
    """
    limit = first
    active = [name for name in sorted(streams) if name not in state.exhausted]
    results = await asyncio.gather(
        *(
            _read(streams[name][0], streams[name][1], limit, state.positions.get(name))
            for name in active
        ),
        return_exceptions=True,
    )
    pages: dict[str, Page] = {}
    skipped: list[SkippedInstance] = []
    for name, result in zip(active, results, strict=True):
        if isinstance(result, BackendError):
            skipped.append(SkippedInstance(name, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            pages[name] = result

    heap: list[tuple[tuple[Any, ...], str, int]] = []
    for name, page in pages.items():
        if page.items:
            heap.append((feed_key(page.items[0]), name, 0))
    heapq.heapify(heap)

    progress = _Progress(state, streams, pages)
    consumed: dict[str, int] = dict.fromkeys(pages, 0)
    edges: list[FeedEdge] = []
    while heap and len(edges) < first:
        _, name, index = heapq.heappop(heap)
        page = pages[name]
        consumed[name] = index + 1
        edges.append(
            FeedEdge(page.items[index], partial(progress.state_at, tuple(consumed.items())))
        )
        if index + 1 < len(page.items):
            heapq.heappush(heap, (feed_key(page.items[index + 1]), name, index + 1))

    has_next = False
    end = progress.state_at(tuple(consumed.items()))
    for name, page in pages.items():
        leftover = len(page.items) - consumed[name]
        if leftover > 0 or page.position is not None:
            has_next = True
        if leftover == 0 and page.position is None:
            end = end.finished(name)
    if edges:
        # The last edge's cursor is the end cursor: it also knows which streams ran dry.
        edges[-1] = FeedEdge(edges[-1].node, lambda: end)
    if skipped:
        # A skipped instance may still hold executions: the walk is not over.
        has_next = has_next or bool(edges)
    return FeedPage(
        edges=tuple(edges),
        has_next_page=has_next,
        has_previous_page=started,
        end_state=end,
        skipped=tuple(skipped),
        unreadable=tuple(record for page in pages.values() for record in page.unreadable),
        cursors=cursors,
    )
