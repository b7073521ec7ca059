"""The shared Redis and its health: commands that never hold a request up for long."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from execgate.telemetry.metrics import Metrics

T = TypeVar("T")

log = logging.getLogger("execgate.shared")


class SharedUnavailable(Exception):
    """Redis did not answer (or is taken to be down for now): work alone."""


class SharedRedis:
    """One Redis connection pool, with a health state that every shared store reads.

    ``run`` sends one command (or script, or pipeline) within ``timeout`` seconds; when it
    fails, Redis is taken to be down for ``retry_after`` seconds: ``run`` then fails at once,
    so a request never waits on a Redis that is away.
    """

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        prefix: str = "execgate:",
        timeout: float = 0.25,
        retry_after: float = 5.0,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            password=password,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self.metrics = metrics
        self.clock = clock
        self._down_until = 0.0
        self._down = False

    @property
    def up(self) -> bool:
        """Whether the last command was answered (the ``execgate_redis_up`` gauge)."""
        return not self._down

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    async def run(self, operation: str, command: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """``command``'s answer; ``SharedUnavailable`` when Redis is down or does not answer
        in time (``operation`` names it in the log and the metrics: a fixed word)."""
        if self.resting:
            raise SharedUnavailable(operation)
        try:
            async with asyncio.timeout(self.timeout):
                answer = await command(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(operation, exc)
            raise SharedUnavailable(operation) from exc
        self.answered()
        return answer

    @property
    def resting(self) -> bool:
        """Whether Redis is taken to be down for now (``run`` fails at once)."""
        return self._down and self.clock() < self._down_until

    def answered(self) -> None:
        """Redis answered (``run`` says so itself; the live relay's listener too)."""
        if self._down:
            self._down = False
            log.warning("Redis answers again: replicas share state again")

    def failed(self, operation: str, exc: BaseException) -> None:
        """Redis did not answer ``operation``: down for ``retry_after`` seconds."""
        if self.metrics is not None:
            self.metrics.redis_failures.labels(operation).inc()
        if not self._down:
            # The exception's text may name the host; its type is enough to say what failed.
            log.warning(
                "Redis did not answer (%s during %s): each replica works alone for %gs",
                type(exc).__name__,
                operation,
                self.retry_after,
            )
        self._down = True
        self._down_until = self.clock() + self.retry_after

    async def aclose(self) -> None:
        await self.client.aclose()
