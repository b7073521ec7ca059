"""The shared stores over a real Redis: atomic buckets, shared executions and documents, and
each replica on its own — quickly, with a log line and a metric — when Redis is away."""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest

from execgate.api.persisted import MemoryStore
from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import Execution, ExecutionStatus, NodeExecution
from execgate.shared import codec
from execgate.shared.executions import RedisExecutions
from execgate.shared.persisted import SharedQueryStore
from execgate.shared.ratelimit import SharedBuckets
from execgate.shared.redis import SharedRedis
from execgate.simulate.server import free_port
from execgate.telemetry.metrics import Metrics
from tests.fakes import make_execution
from tests.shared.redis_server import RunningRedis, redis_server
from tests.telemetry.test_metrics import samples


def _with_nodes(
    native_id: str, *, status: ExecutionStatus = ExecutionStatus.SUCCESS, nodes: int = 1
) -> Execution:
    execution = make_execution("acme", native_id, minutes=3, status=status)
    runs = tuple(
        NodeExecution(
            key=NodeExecutionKey(execution.key, str(n)),
            node_name=f"Node {n}",
            node_type="n8n-nodes-base.set",
            status=status,
            status_raw=status.value,
            position=n,
            started_at=execution.started_at,
            duration_ms=5,
            input_data={"items": [n, "ü", None]},
            output_data=[{"json": {"ok": True}}],
        )
        for n in range(nodes)
    )
    return replace(execution, node_executions=runs, input_data={"a": 1}, error_message="boom")


async def test_two_replicas_share_one_bucket(server: RunningRedis, shared: SharedRedis) -> None:
    other = SharedRedis(server.url, prefix=shared.prefix)
    a, b = SharedBuckets(shared), SharedBuckets(other)
    waits = [await (a if i % 2 else b).take("dash", 0.001, 4) for i in range(8)]
    assert waits[:4] == [0.0] * 4
    assert all(w > 100 for w in waits[4:])  # 1 token per 1000 s
    assert await a.take("other-client", 0.001, 4) == 0.0
    await other.aclose()


async def test_the_bucket_refills_at_the_rate(shared: SharedRedis) -> None:
    buckets = SharedBuckets(shared)
    assert await buckets.take("fast", 50.0, 1) == 0.0
    wait = await buckets.take("fast", 50.0, 1)
    assert 0 < wait <= 0.02


def test_codec_round_trips_an_execution_with_its_nodes() -> None:
    execution = _with_nodes("42", status=ExecutionStatus.FAILED, nodes=2)
    assert execution.node_executions
    assert codec.decode(codec.encode(execution)) == execution
    assert codec.decode(b'{"v": 99, "e": {}}') is None
    assert codec.decode(b"not json") is None
    assert codec.decode(b'{"v": 1, "e": {"key": 5}}') is None


async def test_finished_executions_are_shared_and_dropped(shared: SharedRedis) -> None:
    one = RedisExecutions(shared, ttl_seconds=60)
    two = RedisExecutions(shared, ttl_seconds=60)
    done = _with_nodes("1", status=ExecutionStatus.SUCCESS, nodes=1)
    running = _with_nodes("2", status=ExecutionStatus.RUNNING, nodes=1)
    bare = replace(
        make_execution("acme", "3", minutes=1, status=ExecutionStatus.SUCCESS),
        node_executions=None,
    )
    await one.put_many([done, running, bare])
    keys = [ExecutionKey("acme", n) for n in ("1", "2", "3")]
    assert await two.get_many(keys) == {done.key: done}
    assert (two.hits, two.misses) == (1, 2)
    await two.drop(done.key)
    assert await one.get_many(keys) == {}


async def test_a_value_under_another_key_is_not_taken(shared: SharedRedis) -> None:
    store = RedisExecutions(shared, ttl_seconds=60)
    done = _with_nodes("1", status=ExecutionStatus.SUCCESS, nodes=1)
    await shared.client.set(shared.key("exec", "acme", "9"), codec.encode(done))
    assert await store.get_many([ExecutionKey("acme", "9")]) == {}


async def test_documents_are_shared_and_kept_locally(shared: SharedRedis) -> None:
    first = SharedQueryStore(shared, MemoryStore())
    second_local = MemoryStore()
    second = SharedQueryStore(shared, second_local)
    await first.put("a" * 64, "{ instances { name } }")
    assert await second.get("a" * 64) == "{ instances { name } }"
    assert await second_local.get("a" * 64) == "{ instances { name } }"
    assert await second.get("b" * 64) is None


async def test_redis_away_means_each_replica_alone(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    with redis_server(port) as server:
        metrics = Metrics()
        redis = SharedRedis(
            server.url, prefix="away:", timeout=0.2, retry_after=60, metrics=metrics
        )
        buckets = SharedBuckets(redis)
        assert await buckets.take("c", 1.0, 1) == 0.0
        assert redis.up
        server.stop()
        caplog.set_level(logging.WARNING, "execgate.shared")
        assert await buckets.take("c", 1.0, 1) is None
        assert not redis.up
        # within the retry window: no new attempt, answered at once
        store = RedisExecutions(redis, ttl_seconds=60)
        assert await store.get_many([ExecutionKey("acme", "1")]) == {}
        await store.put_many([_with_nodes("1", status=ExecutionStatus.SUCCESS, nodes=1)])
        queries = SharedQueryStore(redis, MemoryStore())
        await queries.put("c" * 64, "{ x }")
        assert await queries.get("c" * 64) == "{ x }"  # this replica's own copy
        found = samples(metrics)
        assert found[("execgate_redis_failures_total", (("operation", "rate_limit"),))] == 1
        assert sum(v for (n, _), v in found.items() if n == "execgate_redis_failures_total") == 1
        warnings = [r.getMessage() for r in caplog.records if r.name == "execgate.shared"]
        assert len(warnings) == 1 and "works alone" in warnings[0]
        assert str(port) not in warnings[0]
        await redis.aclose()
