"""The finished-execution cache and in-flight coalescing."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from execgate.config import CacheSettings
from execgate.domain.errors import PartialRead, Unsupported, UpstreamTimeout
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import (
    BackendKind,
    Capability,
    Execution,
    ExecutionQuery,
    ExecutionStatus,
    Page,
)
from execgate.service.cache import CachedBackend, Coalescer, ExecutionCache
from tests.fakes import FakeBackend, ListsWithoutNodes, make_execution


def cache_of(**overrides: Any) -> ExecutionCache:
    """A cache with the configured defaults, but for ``overrides``."""
    defaults = CacheSettings()
    options: dict[str, Any] = {
        "max_entries": defaults.max_entries,
        "max_bytes": defaults.max_bytes,
        "ttl_seconds": defaults.ttl_seconds,
    }
    return ExecutionCache(**{**options, **overrides})


def _backend() -> FakeBackend:
    return FakeBackend(
        "a",
        [
            make_execution("a", "1", minutes=1),
            make_execution("a", "2", minutes=2, status=ExecutionStatus.RUNNING),
            make_execution("a", "3", minutes=3, status=ExecutionStatus.FAILED),
        ],
    )


async def test_finished_executions_are_served_from_cache_and_running_ones_are_not() -> None:
    inner = _backend()
    cached = CachedBackend(inner, cache_of())
    await cached.get_executions(["1", "2", "3"], include_nodes=True)
    assert inner.calls == 1
    again = await cached.get_executions(["1", "3"], include_nodes=True)
    assert set(again) == {"1", "3"}
    assert inner.calls == 1, "finished executions come from the cache"
    await cached.get_executions(["2"], include_nodes=True)
    assert inner.calls == 2, "a running execution is read again every time"


async def test_list_items_with_nodes_fill_the_cache() -> None:
    inner = _backend()
    cached = CachedBackend(inner, cache_of())
    await cached.list_executions(ExecutionQuery(include_nodes=True), limit=10)
    calls = inner.calls
    found = await cached.get_executions(["1", "3"], include_nodes=True)
    assert set(found) == {"1", "3"} and inner.calls == calls


async def test_bounds_by_entries_and_bytes_and_ttl() -> None:
    now = [0.0]
    cache = ExecutionCache(max_entries=2, max_bytes=10**9, ttl_seconds=10, clock=lambda: now[0])
    for i in range(3):
        cache.put(make_execution("a", str(i + 1), minutes=i))
    assert len(cache) == 2
    assert cache.get(ExecutionKey("a", "1")) is None, "least recently used went first"
    now[0] = 11
    assert cache.get(ExecutionKey("a", "3")) is None, "expired after the TTL"
    small = cache_of(max_entries=100, max_bytes=1500)
    big = replace(make_execution("a", "9", minutes=1), output_data={"blob": "x" * 5000})
    small.put(big)
    assert len(small) == 0 and small.bytes == 0


async def test_delete_through_the_gateway_drops_the_entry() -> None:
    inner = _backend()
    cache = cache_of()
    cached = CachedBackend(inner, cache)
    await cached.get_executions(["1"], include_nodes=True)
    assert cache.get(ExecutionKey("a", "1")) is not None
    with pytest.raises(Unsupported):
        await cached.delete("1")
    assert cache.get(ExecutionKey("a", "1")) is None


async def test_identical_reads_in_flight_share_one_call() -> None:
    coalescer = Coalescer()
    started = 0

    async def slow() -> int:
        nonlocal started
        started += 1
        await asyncio.sleep(0.01)
        return 42

    results = await asyncio.gather(*(coalescer.run("k", slow) for _ in range(5)))
    assert results == [42] * 5
    assert started == 1
    # and a failure reaches every waiter without being retried
    failures = 0

    async def boom() -> int:
        nonlocal failures
        failures += 1
        await asyncio.sleep(0.01)
        raise RuntimeError("down")

    outcomes = await asyncio.gather(
        *(coalescer.run("k", boom) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert failures == 1


async def test_seeing_a_cached_execution_again_renews_it_without_resizing() -> None:
    now = [0.0]
    cache = cache_of(ttl_seconds=10, clock=lambda: now[0])
    first = make_execution("a", "1", minutes=1)
    cache.put(first)
    size = cache.bytes
    now[0] = 8
    cache.put(replace(first, output_data={"blob": "x" * 5000}))
    assert cache.bytes == size, "a finished execution is not measured twice"
    now[0] = 15
    assert cache.get(ExecutionKey("a", "1")) is first, "seen again at 8 s: still fresh at 15 s"


def _with_output(execution: Execution, output: str) -> Execution:
    return replace(execution, output_data={"out": output}, input_data={"in": output})


async def test_a_listed_finished_execution_gets_the_node_data_already_cached() -> None:
    # given: finished 1 and 3 read in full once; running 2 as well
    inner = ListsWithoutNodes(
        "a",
        [
            _with_output(make_execution("a", "1", minutes=1), "one"),
            make_execution("a", "2", minutes=2, status=ExecutionStatus.RUNNING),
            _with_output(make_execution("a", "3", minutes=3, status=ExecutionStatus.FAILED), "3"),
        ],
    )
    cached = CachedBackend(inner, cache_of())
    await cached.get_executions(["1", "2", "3"], include_nodes=True)
    # and: execution 3 was retried elsewhere since, which the list reports
    inner.items["3"] = replace(inner.items["3"], retry_success_id="4")

    # when
    page = await cached.list_executions(ExecutionQuery(), limit=10)

    # then: finished items carry the cached node data, and the list's own fields win
    by_id = {e.native_id: e for e in page.items}
    assert by_id["1"].node_executions == () and by_id["1"].output_data == {"out": "one"}
    assert by_id["3"].input_data == {"in": "3"} and by_id["3"].retry_success_id == "4"
    assert by_id["2"].node_executions is None, "a running execution is never filled from cache"


async def test_a_listed_execution_whose_status_differs_from_the_cache_is_left_alone() -> None:
    inner = ListsWithoutNodes("a", [make_execution("a", "1", minutes=1)])
    cached = CachedBackend(inner, cache_of())
    await cached.get_executions(["1"], include_nodes=True)
    inner.items["1"] = replace(inner.items["1"], status=ExecutionStatus.FAILED)

    page = await cached.list_executions(ExecutionQuery(), limit=10)

    assert page.items[0].status is ExecutionStatus.FAILED
    assert page.items[0].node_executions is None


class BatchLists(FakeBackend):
    """Lists like n8n: node data (and the workflow name, the error) only when asked for."""

    def __init__(self, name: str, executions: list[Execution]) -> None:
        super().__init__(name, executions, kind=BackendKind.N8N)
        self.list_reads: list[bool] = []

    def capabilities(self) -> frozenset[Capability]:
        return frozenset({Capability.BATCH_NODE_DATA})

    async def list_executions(
        self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
    ) -> Page:
        self.list_reads.append(query.include_nodes)
        page = await super().list_executions(query, limit=limit, position=position)
        if query.include_nodes:
            return page
        bare = tuple(
            replace(
                e,
                node_executions=None,
                input_data=None,
                output_data=None,
                workflow_name=None,
                error_message=None,
            )
            for e in page.items
        )
        return replace(page, items=bare)


def _polled_backend() -> BatchLists:
    return BatchLists(
        "n",
        [
            replace(_with_output(make_execution("n", "1", minutes=1), "one"), workflow_name="W"),
            make_execution("n", "2", minutes=2, status=ExecutionStatus.RUNNING),
            replace(
                make_execution("n", "3", minutes=3, status=ExecutionStatus.FAILED),
                error_message="boom",
            ),
        ],
    )


async def test_a_polled_page_is_listed_without_node_data_and_filled_from_the_cache() -> None:
    # given: a page with node data read once in full
    inner = _polled_backend()
    cached = CachedBackend(inner, cache_of())
    query = ExecutionQuery(include_nodes=True)
    first = await cached.list_executions(query, limit=10)
    calls = inner.calls

    # when: the same page, polled again
    again = await cached.list_executions(query, limit=10)

    # then: listed lean, finished ones from the cache, the running one read on its own
    assert inner.list_reads == [True, False]
    assert inner.calls == calls + 2  # the lean list and one detail read
    assert again.items == first.items
    by_id = {e.native_id: e for e in again.items}
    assert by_id["1"].output_data == {"out": "one"} and by_id["1"].workflow_name == "W"
    assert by_id["3"].error_message == "boom"
    assert by_id["2"].node_executions is not None and by_id["2"].status is ExecutionStatus.RUNNING
    assert again.calls == 2


@pytest.mark.parametrize(("running", "lean"), [(5, True), (7, True), (8, False)])
async def test_a_polled_page_is_read_lean_while_at_most_a_third_of_it_is_active(
    running: int, lean: bool
) -> None:
    # given: a page of 21 whose newest are running (an n8n instance under load), read in full
    # once
    executions = [
        make_execution("n", str(i), minutes=i, status=ExecutionStatus.RUNNING)
        if i > 21 - running
        else make_execution("n", str(i), minutes=i)
        for i in range(1, 22)
    ]
    inner = BatchLists("n", executions)
    cached = CachedBackend(inner, cache_of())
    query = ExecutionQuery(include_nodes=True)
    first = await cached.list_executions(query, limit=21)
    calls = inner.calls

    # when: polled again
    again = await cached.list_executions(query, limit=21)

    # then: up to seven (21 // 3) running, the lean list and the running ones read by id, not
    # 21 executions' node data listed again (measured on such a page with five: 2.1 ms of CPU
    # per poll against 4.7); past that, the full list
    assert again.items == first.items
    if lean:
        assert inner.list_reads == [True, False]
        assert inner.calls == calls + 2  # the lean list, one read of the running ones
        assert again.calls == 1 + running
    else:
        assert inner.list_reads == [True, True]


async def test_a_lean_page_reads_at_most_sixteen_executions_one_by_one() -> None:
    # given: a page of 101 read in full once, 17 of them running (a third would allow 33)
    executions = [
        make_execution("n", str(i), minutes=i, status=ExecutionStatus.RUNNING)
        if i > 84
        else make_execution("n", str(i), minutes=i)
        for i in range(1, 102)
    ]
    inner = BatchLists("n", executions)
    cached = CachedBackend(inner, cache_of())
    query = ExecutionQuery(include_nodes=True)
    await cached.list_executions(query, limit=101)

    # when: polled again
    await cached.list_executions(query, limit=101)

    # then: the full list, not 17 single reads
    assert inner.list_reads == [True, True]


async def _polled_then_forgotten() -> tuple[BatchLists, CachedBackend]:
    """A page of eight read in full once, then dropped from the cache."""
    executions = [make_execution("n", str(i), minutes=i) for i in range(1, 9)]
    inner = BatchLists("n", executions)
    cache = cache_of()
    cached = CachedBackend(inner, cache)
    await cached.list_executions(ExecutionQuery(include_nodes=True), limit=8)
    for e in executions:
        cache.drop(e.key)
    return inner, cached


async def test_a_polled_page_missing_too_much_from_the_cache_is_read_in_full() -> None:
    # given: a polled page, then a cache that lost what it held
    inner, cached = await _polled_then_forgotten()

    # when
    page = await cached.list_executions(ExecutionQuery(include_nodes=True), limit=8)

    # then: the lean list showed eight missing, so the full list answered
    assert inner.list_reads == [True, False, True]
    assert [e.node_executions for e in page.items] == [()] * 8


async def test_only_backends_whose_lists_carry_node_data_are_polled_lean() -> None:
    asked: list[bool] = []

    class Recorded(ListsWithoutNodes):
        async def list_executions(
            self, query: ExecutionQuery, *, limit: int, position: Mapping[str, Any] | None = None
        ) -> Page:
            asked.append(query.include_nodes)
            return await super().list_executions(query, limit=limit, position=position)

    cached = CachedBackend(Recorded("a", [make_execution("a", "1", minutes=1)]), cache_of())
    query = ExecutionQuery(include_nodes=True)
    for _ in range(3):
        await cached.list_executions(query, limit=10)
    assert asked == [True, True, True]


async def test_a_polled_feed_is_read_lean_whatever_the_filter_or_cursor_of_the_next_request() -> (
    None
):
    # given: a page read in full once
    inner = BatchLists("n", [make_execution("n", str(i), minutes=i) for i in range(1, 9)])
    cached = CachedBackend(inner, cache_of())
    await cached.list_executions(ExecutionQuery(include_nodes=True), limit=10)
    # when: the next requests each carry their own filter (a dashboard's moving window)
    for minutes in (100, 200, 300):
        upper = make_execution("n", "0", minutes=minutes).started_at
        query = ExecutionQuery(include_nodes=True, started_before=upper)
        page = await cached.list_executions(query, limit=10)
        assert all(item.node_executions is not None for item in page.items)
    # then: only the first list carried node data
    assert inner.list_reads == [True, False, False, False]


async def test_a_page_the_cache_cannot_hold_is_never_polled_lean() -> None:
    # given: a cache too small for the page
    inner = BatchLists("n", [make_execution("n", str(i), minutes=i) for i in range(1, 9)])
    tiny = cache_of(max_entries=1)
    cached = CachedBackend(inner, tiny)
    query = ExecutionQuery(include_nodes=True)

    # when
    for _ in range(3):
        await cached.list_executions(query, limit=10)

    # then: no lean read was tried, so no call was wasted on one
    assert inner.list_reads == [True, True, True]


async def test_a_lean_read_that_fell_short_is_not_tried_again_until_the_cache_holds_the_page() -> (
    None
):
    inner, cached = await _polled_then_forgotten()

    query = ExecutionQuery(include_nodes=True)
    await cached.list_executions(query, limit=8)  # lean, short, then in full (refills)
    await cached.list_executions(query, limit=8)  # lean again: the cache holds the page

    assert inner.list_reads == [True, False, True, False]


class FailsOne(FakeBackend):
    """Reads every execution but ``failing``, whose read fails (a ``PartialRead``)."""

    failing = "3"

    async def get_executions(
        self, native_ids: Any, *, include_nodes: bool
    ) -> Mapping[str, Execution]:
        found = await super().get_executions(
            [i for i in native_ids if i != self.failing], include_nodes=include_nodes
        )
        if self.failing in native_ids:
            raise PartialRead(self.name, found, {self.failing: UpstreamTimeout(self.name, "late")})
        return found


async def test_a_partial_read_keeps_and_answers_what_was_read() -> None:
    inner = FailsOne("a", _backend().items.values())
    cached = CachedBackend(inner, cache_of())
    with pytest.raises(PartialRead) as caught:
        await cached.get_executions(["1", "3"], include_nodes=True)
    assert set(caught.value.found) == {"1"} and set(caught.value.failed) == {"3"}
    inner.failing = ""
    calls = inner.calls
    assert set(await cached.get_executions(["1"], include_nodes=True)) == {"1"}
    assert inner.calls == calls, "what the partial read brought is served from the cache"
