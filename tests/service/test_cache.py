"""The finished-execution cache and in-flight coalescing."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from execgate.domain.errors import Unsupported
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution, ExecutionQuery, ExecutionStatus
from execgate.service.cache import CachedBackend, CacheSettings, Coalescer, ExecutionCache
from tests.fakes import FakeBackend, ListsWithoutNodes, make_execution


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
    cached = CachedBackend(inner, ExecutionCache())
    await cached.get_executions(["1", "2", "3"], include_nodes=True)
    assert inner.calls == 1
    again = await cached.get_executions(["1", "3"], include_nodes=True)
    assert set(again) == {"1", "3"}
    assert inner.calls == 1, "finished executions come from the cache"
    await cached.get_executions(["2"], include_nodes=True)
    assert inner.calls == 2, "a running execution is read again every time"


async def test_list_items_with_nodes_fill_the_cache() -> None:
    inner = _backend()
    cached = CachedBackend(inner, ExecutionCache())
    await cached.list_executions(ExecutionQuery(include_nodes=True), limit=10)
    calls = inner.calls
    found = await cached.get_executions(["1", "3"], include_nodes=True)
    assert set(found) == {"1", "3"} and inner.calls == calls


async def test_bounds_by_entries_and_bytes_and_ttl() -> None:
    now = [0.0]
    cache = ExecutionCache(
        CacheSettings(max_entries=2, max_bytes=10**9, ttl_seconds=10), clock=lambda: now[0]
    )
    for i in range(3):
        cache.put(make_execution("a", str(i + 1), minutes=i))
    assert len(cache) == 2
    assert cache.get(ExecutionKey("a", "1")) is None, "least recently used went first"
    now[0] = 11
    assert cache.get(ExecutionKey("a", "3")) is None, "expired after the TTL"
    small = ExecutionCache(CacheSettings(max_entries=100, max_bytes=1500))
    big = replace(make_execution("a", "9", minutes=1), output_data={"blob": "x" * 5000})
    small.put(big)
    assert len(small) == 0 and small.bytes == 0


async def test_delete_through_the_gateway_drops_the_entry() -> None:
    inner = _backend()
    cache = ExecutionCache()
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
    cache = ExecutionCache(CacheSettings(ttl_seconds=10), clock=lambda: now[0])
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
    cached = CachedBackend(inner, ExecutionCache())
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
    cached = CachedBackend(inner, ExecutionCache())
    await cached.get_executions(["1"], include_nodes=True)
    inner.items["1"] = replace(inner.items["1"], status=ExecutionStatus.FAILED)

    page = await cached.list_executions(ExecutionQuery(), limit=10)

    assert page.items[0].status is ExecutionStatus.FAILED
    assert page.items[0].node_executions is None
