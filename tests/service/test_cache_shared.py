"""The execution cache with the replicas' shared store behind it (a fake of the port)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from execgate.domain.errors import Conflict
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution, ExecutionStatus
from execgate.service.cache import CachedBackend, ExecutionCache
from tests.fakes import FakeBackend, make_execution


class FakeShared:
    def __init__(self) -> None:
        self.kept: dict[ExecutionKey, Execution] = {}
        self.asked: list[list[ExecutionKey]] = []
        self.dropped: list[ExecutionKey] = []

    async def get_many(self, keys: Sequence[ExecutionKey]) -> Mapping[ExecutionKey, Execution]:
        self.asked.append(list(keys))
        return {k: self.kept[k] for k in keys if k in self.kept}

    async def put_many(self, executions: Sequence[Execution]) -> None:
        for e in executions:
            if e.status.is_finished and e.node_executions is not None:
                self.kept[e.key] = e

    async def drop(self, key: ExecutionKey) -> None:
        self.dropped.append(key)
        self.kept.pop(key, None)


def _cache() -> ExecutionCache:
    return ExecutionCache(max_entries=100, max_bytes=10**7, ttl_seconds=60)


async def test_what_one_replica_read_the_other_takes_from_the_shared_store() -> None:
    done = make_execution("acme", "1", minutes=1, status=ExecutionStatus.SUCCESS)
    shared = FakeShared()
    first_backend, second_backend = FakeBackend("acme", [done]), FakeBackend("acme", [done])
    first = CachedBackend(first_backend, _cache(), shared)
    second = CachedBackend(second_backend, _cache(), shared)
    assert (await first.get_executions(["1"], include_nodes=True))["1"] == done
    assert first_backend.calls == 1 and done.key in shared.kept
    assert (await second.get_executions(["1"], include_nodes=True))["1"] == done
    assert second_backend.calls == 0
    # and then from its own cache, without asking the shared store again
    asked = len(shared.asked)
    await second.get_executions(["1"], include_nodes=True)
    assert len(shared.asked) == asked


async def test_an_action_drops_the_shared_entry_too() -> None:
    done = make_execution("acme", "1", minutes=1, status=ExecutionStatus.SUCCESS)
    shared = FakeShared()
    backend = CachedBackend(FakeBackend("acme", [done]), _cache(), shared)
    await backend.get_executions(["1"], include_nodes=True)
    with contextlib.suppress(
        Conflict
    ):  # finished: the backend refuses, the entry goes all the same
        await backend.cancel("1")
    assert shared.dropped == [done.key] and done.key not in shared.kept
