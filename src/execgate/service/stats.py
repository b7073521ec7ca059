"""Health statistics over every instance, exact, and cheap when asked again.

``Statistics.answer`` reads each selected instance's executions in the window through the
port, with lean list reads (no node data) and the filters pushed down, into that instance's
``Segment`` (``service/segments.py``), then aggregates every segment's window at once
(``service/aggregate.py``).

Finished executions never change, so a segment is kept (``StatsCache``) and the next answer
reads only what may have changed since:

1. the head: every execution sorting after the newest one held, less ``HEAD_MARGIN`` (for
   executions that become visible late, and pending ones that start): it replaces what the
   segment held there, so new, changed and deleted executions there are seen;
2. the executions still active that sort before the head: one list read per active status
   (running, waiting, pending) finds those still active; the others changed (finished, or were
   deleted) and are read by id;
3. where the instance reports totals (team-style), counts of what is kept before the head (all
   executions, the cancelled ones, and the cancelled ones of the part the range gained): a
   difference means executions were deleted elsewhere, and the segment is read in full again
   (``_Refresh._count`` says what it allows for).
   An instance without totals (n8n) is read in full again once the segment is
   ``ttl_seconds`` old; deletions made through the gateway are forgotten at once (``forget``).

A window reaching further back than a segment extends it (one scan of the older part). A
segment read from ``startedAfter`` keeps everything up to now; ``max_stats_executions`` bounds
what one answer reads and what its window holds (``TooManyExecutions`` beyond).

Error messages, for ``ERROR``: an instance whose lists leave them out (n8n without
``includeData``) has those of its failed, crashed and cancelled executions read once, by list
reads with node data of ``error_page_size`` executions, and remembered with the segment.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from execgate.domain.errors import BackendError, TooManyExecutions
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import ExecutionQuery, ExecutionStatus
from execgate.domain.ports import Backend
from execgate.domain.stats import StatsAnswer, StatsDimension, Window
from execgate.service.aggregate import aggregate
from execgate.service.segments import ERROR_STATUSES, Segment, Snapshot, moment

log = logging.getLogger("execgate.stats")

HEAD_MARGIN = 120.0
"""Seconds before the newest execution held from which every refresh reads again."""
SCAN_PAGE = 1000
"""Executions asked of an adapter per list call while scanning (it reads its own pages)."""
ACTIVE = (ExecutionStatus.RUNNING, ExecutionStatus.WAITING, ExecutionStatus.PENDING)

SegmentKey = tuple[str, str | None, frozenset[ExecutionStatus]]


class _Stale(Exception):
    """The segment no longer matches the instance (deleted executions): read it in full."""


@dataclass
class Budget:
    """How many executions one answer may read, and has read."""

    limit: int
    read: int = 0

    def take(self, count: int) -> None:
        self.read += count
        if self.read > self.limit:
            raise TooManyExecutions(
                f"this window holds more than {self.limit} executions from its startedAfter "
                "to now (the statistics read them all): narrow it, or raise "
                "[limits] max_stats_executions"
            )


class StatsCache:
    """Segments by (instance, workflow filter, status filter), least recently used first out
    once they hold more than ``max_executions`` between them."""

    def __init__(
        self,
        *,
        ttl_seconds: float = 300.0,
        max_executions: int = 400_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_executions = max_executions
        self.clock = clock
        self._segments: OrderedDict[SegmentKey, Segment] = OrderedDict()

    def __len__(self) -> int:
        return len(self._segments)

    def segment(self, key: SegmentKey, make: Callable[[], Segment]) -> Segment:
        found = self._segments.get(key)
        if found is None:
            found = self._segments[key] = make()
        self._segments.move_to_end(key)
        found.used_at = self.clock()
        return found

    def warm(self, key: SegmentKey, after: datetime) -> bool:
        """Whether the next answer for ``key`` from ``after`` on reads only what changed."""
        found = self._segments.get(key)
        return found is not None and found.ready and found.lo <= after

    def trim(self) -> None:
        held = sum(len(s) for s in self._segments.values())
        while held > self.max_executions and len(self._segments) > 1:
            _, oldest = self._segments.popitem(last=False)
            held -= len(oldest)

    def forget(self, key: ExecutionKey) -> None:
        """An execution deleted through the gateway: out of every segment of its instance."""
        for (instance, _, _), segment in self._segments.items():
            if instance == key.instance:
                segment.remove(key.native_id)


def _gained(counted: tuple[float, float], lo: float, floor: float) -> list[tuple[float, float]]:
    """The parts of ``[lo, floor]`` outside ``counted`` (timestamps to the millisecond)."""
    was_lo, was_floor = counted
    parts = []
    if lo < was_lo:
        parts.append((lo, min(floor, was_lo - 0.001)))
    if floor > was_floor:
        parts.append((max(lo, was_floor + 0.001), floor))
    return [(a, b) for a, b in parts if a <= b]


def active_statuses(base: ExecutionQuery) -> list[ExecutionStatus]:
    return [s for s in ACTIVE if not base.statuses or s in base.statuses]


async def _scan(
    segment: Segment, backend: Backend, query: ExecutionQuery, budget: Budget, limit: int
) -> set[str]:
    """Every execution ``query`` lists, put into ``segment``; their ids."""
    seen: set[str] = set()
    position: Mapping[str, Any] | None = None
    while True:
        page = await backend.list_executions(query, limit=limit, position=position)
        budget.take(len(page.items))
        for execution in page.items:
            segment.put(execution, with_data=query.include_nodes)
            seen.add(execution.native_id)
        if page.position is None or not page.items:
            return seen
        position = page.position


@dataclass
class _Refresh:
    """One instance's part of an answer."""

    segment: Segment
    backend: Backend
    window: Window
    budget: Budget
    errors: bool
    cache: StatsCache

    async def run(self) -> Snapshot:
        segment = self.segment
        version = segment.version
        async with segment.lock:
            fresh = segment.version != version and segment.ready
            if not (fresh and segment.lo <= self.window.after):
                try:
                    await self._refresh()
                except _Stale:
                    segment.clear(min(segment.lo, self.window.after))
                    await self._refresh()
                except BaseException:
                    segment.ready = False
                    raise
            if self.errors and not segment.errors_in_lists:
                await self._read_errors()
            segment.version += 1
            return segment.snapshot()

    async def _refresh(self) -> None:
        segment, backend, base = self.segment, self.backend, self.segment.base
        model = backend.costs()
        expired = self.cache.clock() - segment.scanned_at > self.cache.ttl_seconds
        if not segment.ready or (expired and not model.count_reads):
            segment.clear(min(segment.lo, self.window.after))
            query = replace(base, started_after=segment.lo)
            await _scan(segment, backend, query, self.budget, SCAN_PAGE)
            segment.ready, segment.scanned_at = True, self.cache.clock()
            if model.count_reads:
                await self._count(self._floor(), baseline=True)
            return
        if self.window.after < segment.lo:
            older = replace(base, started_after=self.window.after, started_before=segment.lo)
            await _scan(segment, backend, older, self.budget, SCAN_PAGE)
            segment.lo = self.window.after
        floor = self._floor()
        held = segment.ids_from(floor)
        head = replace(base, started_after=moment(floor))
        seen = await _scan(segment, backend, head, self.budget, SCAN_PAGE)
        for gone in held - seen:
            segment.remove(gone)
        await self._recheck_active(floor)
        if model.count_reads:
            await self._count(floor)

    def _floor(self) -> float:
        """Where the head starts: ``HEAD_MARGIN`` before the newest execution held."""
        segment = self.segment
        newest = segment.newest()
        lo = segment.lo.timestamp()
        return lo if math.isinf(newest) else max(lo, newest - HEAD_MARGIN)

    async def _recheck_active(self, floor: float) -> None:
        """Active executions older than the head: still active, or read again by id."""
        segment, backend, base = self.segment, self.backend, self.segment.base
        old = segment.active_before(floor)
        if not old:
            return
        still: set[str] = set()
        for status in active_statuses(base):
            query = replace(
                base,
                statuses=frozenset({status}),
                started_after=segment.lo,
                started_before=moment(floor),
            )
            still |= await _scan(segment, backend, query, self.budget, SCAN_PAGE)
        changed = [native_id for native_id in old if native_id not in still]
        if not changed:
            return
        found = await backend.get_executions(changed, include_nodes=False)
        self.budget.take(len(found))
        lo = segment.lo
        for native_id in changed:
            execution = found.get(native_id)
            moment_of = execution.sort_time if execution is not None else None
            if (
                execution is None
                or not base.matches(execution)
                or moment_of is None
                or moment_of < lo
            ):
                segment.remove(native_id)
            else:
                segment.put(execution)

    async def _count(self, floor: float, *, baseline: bool = False) -> None:
        """Compare the segment before the head with the instance's own totals: a difference
        means deletions there (the head is listed again whole, so the scan sees those).

        Totals of the range from ``lo`` to ``floor``, at once: all its executions, and its
        cancelled ones. A server may count executions that never started by their creation
        time while listing them with no start time, so the segment never holds them: with
        ``baseline`` (after a full read) the difference found beside the cancelled ones is
        allowed for from then on. Cancelled ones are counted apart because their number of
        that kind grows on its own (a queued execution cancelled before it starts): the range
        grows too (the floor follows the newest execution), so the cancelled ones of the part
        it gained since the last check are counted as well, and the number found must be at
        least the last one plus those. Fewer means a deletion. Left unseen: a cancelled
        execution deleted elsewhere while, in the same interval, an execution queued before the
        last check's floor is cancelled before it starts. The range stops at the head, where
        executions are queued, start and finish between the requests (counts taken a moment
        apart would differ).
        """
        segment = self.segment
        lo = segment.lo.timestamp()
        if floor <= lo:
            return
        query = replace(segment.base, started_after=segment.lo, started_before=moment(floor))
        cancelled = ExecutionStatus.CANCELLED
        counts_cancelled = not segment.base.statuses or cancelled in segment.base.statuses
        gained = [] if baseline or segment.counted is None else _gained(segment.counted, lo, floor)
        totals = await asyncio.gather(
            self.backend.count_executions(query),
            *(
                self.backend.count_executions(
                    replace(
                        query,
                        statuses=frozenset({cancelled}),
                        started_after=moment(after),
                        started_before=moment(before),
                    )
                )
                for after, before in ([(lo, floor), *gained] if counts_cancelled else [])
            ),
        )
        total = totals[0]
        if total is None or any(t is None for t in totals):
            return
        held = segment.count_between(lo, floor)
        undated_cancelled = new_undated = 0
        if counts_cancelled:
            undated_cancelled = int(totals[1] or 0) - segment.count_between(lo, floor, cancelled)
            for (after, before), found in zip(gained, totals[2:], strict=True):
                new_undated += int(found or 0) - segment.count_between(after, before, cancelled)
        others = total - undated_cancelled - held
        expected = segment.uncounted_cancelled + new_undated
        if baseline:
            segment.uncounted = max(0, others)
        elif others != segment.uncounted or undated_cancelled < expected:
            log.info(
                "statistics: instance %r counts %d executions in a kept range (%d cancelled "
                "ones not listed with a time, %d expected), which holds %d (%d allowed for): "
                "reading it in full",
                segment.instance,
                total,
                undated_cancelled,
                expected,
                held,
                segment.uncounted,
            )
            raise _Stale
        segment.uncounted_cancelled = max(0, undated_cancelled)
        segment.counted = (lo, floor)

    async def _read_errors(self) -> None:
        """The error messages a lean list left out, for the rows of this window."""
        segment, backend = self.segment, self.backend
        after = self.window.after.timestamp()
        before = self.window.before.timestamp() if self.window.before else math.inf
        missing = segment.without_error(after, before)
        if not missing:
            return
        wanted = {native_id for native_id, _ in missing}
        times = [t for _, t in missing]
        size = backend.costs().error_page_size
        for status in ERROR_STATUSES:
            if segment.base.statuses and status not in segment.base.statuses:
                continue
            query = replace(
                segment.base,
                statuses=frozenset({status}),
                include_nodes=True,
                started_after=moment(min(times)),
                started_before=moment(max(times)),
            )
            position: Mapping[str, Any] | None = None
            while wanted:
                page = await backend.list_executions(query, limit=size, position=position)
                self.budget.take(len(page.items))
                for execution in page.items:
                    if execution.native_id in wanted:
                        segment.set_error(execution.native_id, execution)
                        wanted.discard(execution.native_id)
                if page.position is None or not page.items:
                    break
                position = page.position


@dataclass(frozen=True, slots=True)
class StatsRequest:
    names: Sequence[str]
    base: ExecutionQuery
    """The filters pushed down (workflow, statuses); the window is applied to the segments."""
    window: Window
    group_by: tuple[StatsDimension, ...]
    max_buckets: int
    max_executions: int


async def answer(
    request: StatsRequest,
    backends: Mapping[str, Backend],
    cache: StatsCache,
    normalise: Callable[[str], str],
) -> StatsAnswer:
    """The statistics of ``request`` over ``backends`` (skipping the instances that fail)."""
    budget = Budget(request.max_executions)
    errors = StatsDimension.ERROR in request.group_by
    refreshes = []
    for name in request.names:
        backend = backends[name]
        key: SegmentKey = (name, request.base.workflow_id, request.base.statuses)

        def make(name: str = name, backend: Backend = backend) -> Segment:
            return Segment(
                name,
                request.base,
                request.window.after,
                errors_in_lists=backend.costs().list_errors,
                normalise=normalise,
            )

        segment = cache.segment(key, make)
        refreshes.append(_Refresh(segment, backend, request.window, budget, errors, cache))
    results = await asyncio.gather(*(r.run() for r in refreshes), return_exceptions=True)
    snapshots: list[Snapshot] = []
    skipped: list[tuple[str, str, str]] = []
    for name, result in zip(request.names, results, strict=True):
        if isinstance(result, BackendError):
            skipped.append((name, result.code, result.message))
        elif isinstance(result, BaseException):
            raise result
        else:
            snapshots.append(result)
    cache.trim()
    held = sum(_in_window(s, request.window) for s in snapshots)
    if held > request.max_executions:
        budget.take(held)
    overall, buckets, count = aggregate(
        snapshots, request.window, request.group_by, max_buckets=request.max_buckets
    )
    return StatsAnswer(
        window=request.window,
        group_by=request.group_by,
        overall=overall,
        buckets=buckets,
        bucket_count=count,
        scanned=budget.read,
        skipped=tuple(skipped),
    )


def _in_window(snapshot: Snapshot, window: Window) -> int:
    c = snapshot.columns
    after = window.after.timestamp()
    before = window.before.timestamp() if window.before else math.inf
    return int(((c.sort >= after) & (c.sort <= before) & c.alive).sum())
