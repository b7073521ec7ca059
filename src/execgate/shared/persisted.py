"""Persisted queries shared by the replicas: each document in Redis under its sha256.

Every document is also kept in process (``api.persisted.MemoryStore``), so a replica whose
Redis is away still knows what it registered itself; a document found in Redis is remembered
locally too. Documents expire from Redis ``ttl_seconds`` after they were last registered.
"""

from __future__ import annotations

from typing import Protocol

from execgate.shared.redis import SharedRedis, SharedUnavailable


class LocalStore(Protocol):
    """What the shared store falls back on (``api.persisted.MemoryStore`` has it)."""

    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class SharedQueryStore:
    def __init__(self, redis: SharedRedis, local: LocalStore, ttl_seconds: int = 86_400) -> None:
        self.redis = redis
        self.local = local
        self.ttl_seconds = ttl_seconds

    async def get(self, digest: str) -> str | None:
        found = await self.local.get(digest)
        if found is not None:
            return found
        key = self.redis.key("apq", digest)
        try:
            raw = await self.redis.run("persisted_get", lambda client: client.get(key))
        except SharedUnavailable:
            return None
        if not isinstance(raw, bytes):
            return None
        query = raw.decode("utf-8")
        await self.local.put(digest, query)
        return query

    async def put(self, digest: str, query: str) -> None:
        await self.local.put(digest, query)
        key = self.redis.key("apq", digest)
        try:
            await self.redis.run(
                "persisted_put",
                lambda client: client.set(key, query.encode("utf-8"), ex=self.ttl_seconds),
            )
        except SharedUnavailable:
            return
