"""The finished-execution cache shared by the replicas (the domain's ``SharedExecutions``).

Each finished execution with its nodes is one Redis string (``codec``), expiring after the
cache's ``ttl_seconds``; one larger than ``max_value_bytes`` is not shared. Redis itself bounds
the whole (give it a ``maxmemory`` and an ``allkeys-lru`` policy: ``docker/compose.yaml``
does). Reads and writes are batched per request (``MGET``, one pipeline of ``SET``); when Redis
is away they find nothing and keep nothing, and each replica's own cache serves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution
from execgate.shared import codec
from execgate.shared.redis import SharedRedis, SharedUnavailable


class RedisExecutions:
    def __init__(
        self, redis: SharedRedis, *, ttl_seconds: float, max_value_bytes: int = 4 * 1024 * 1024
    ) -> None:
        self.redis = redis
        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.max_value_bytes = max_value_bytes
        self.hits = 0
        self.misses = 0

    def _key(self, key: ExecutionKey) -> str:
        return self.redis.key("exec", key.instance, key.native_id)

    async def get_many(self, keys: Sequence[ExecutionKey]) -> Mapping[ExecutionKey, Execution]:
        if not keys:
            return {}
        names = [self._key(k) for k in keys]
        try:
            values = await self.redis.run("cache_get", lambda client: client.mget(names))
        except SharedUnavailable:
            return {}
        found: dict[ExecutionKey, Execution] = {}
        for key, raw in zip(keys, values, strict=True):
            execution = codec.decode(raw) if isinstance(raw, bytes) else None
            if execution is not None and execution.key == key:
                found[key] = execution
        self.hits += len(found)
        self.misses += len(keys) - len(found)
        return found

    async def put_many(self, executions: Sequence[Execution]) -> None:
        values = [
            (self._key(e.key), value)
            for e in executions
            if e.status.is_finished and e.node_executions is not None
            for value in (codec.encode(e),)
            if len(value) <= self.max_value_bytes
        ]
        if not values:
            return

        async def write(client: object) -> object:
            pipeline = self.redis.client.pipeline(transaction=False)
            for name, value in values:
                pipeline.set(name, value, px=self.ttl_ms)
            return await pipeline.execute()

        try:
            await self.redis.run("cache_put", write)
        except SharedUnavailable:
            return

    async def drop(self, key: ExecutionKey) -> None:
        name = self._key(key)
        try:
            await self.redis.run("cache_drop", lambda client: client.delete(name))
        except SharedUnavailable:
            return
