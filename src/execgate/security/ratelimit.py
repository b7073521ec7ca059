"""Per-client token buckets.

A bucket holds up to ``burst`` tokens and refills at ``rate_per_second``; each request takes one.
An empty bucket answers how long until the next token, which the HTTP layer sends as
``Retry-After`` (whole seconds, at least 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from execgate.security.clients import Client


class TokenBucket:
    def __init__(
        self, rate_per_second: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.updated = clock()

    def take(self) -> float:
        """Take one token: 0.0 when granted, else the seconds until one is available."""
        now = self.clock()
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` in whole seconds: rounded up, never below 1."""
    return max(1, math.ceil(wait))


class SharedBuckets(Protocol):
    """Buckets the replicas share (``shared.ratelimit``): ``None`` when they cannot say."""

    async def take(self, client: str, rate: float, burst: int) -> float | None: ...


class RateLimiter:
    """One bucket per client that has a rate; clients without one are never limited.

    With ``shared`` buckets (Redis), ``admit`` takes the client's token there, so all the
    replicas together allow the configured rate; while they cannot answer, the bucket in this
    process does (each replica then allows the rate on its own).
    """

    def __init__(
        self,
        clients: Iterable[Client],
        clock: Callable[[], float] = time.monotonic,
        shared: SharedBuckets | None = None,
    ) -> None:
        self.shared = shared
        self.refused: Callable[[str], None] | None = None
        """Told the client's name at each refusal (the metrics count them)."""
        self.buckets: dict[str, TokenBucket] = {}
        for client in clients:
            if client.rate_per_second is None:
                continue
            burst = client.burst or max(1, math.ceil(client.rate_per_second))
            self.buckets[client.name] = TokenBucket(client.rate_per_second, burst, clock)

    async def admit(self, client: str) -> float:
        """0.0 when ``client`` may go ahead, else the seconds to wait: from the shared
        bucket when there is one and it answers, else from this process's."""
        bucket = self.buckets.get(client)
        if bucket is None or self.shared is None:
            return self.check(client)
        wait = await self.shared.take(client, bucket.rate, bucket.burst)
        if wait is None:
            return self.check(client)
        if wait > 0 and self.refused is not None:
            self.refused(client)
        return wait

    def check(self, client: str) -> float:
        """0.0 when ``client`` may go ahead, else the seconds to wait (this process's
        bucket)."""
        bucket = self.buckets.get(client)
        wait = 0.0 if bucket is None else bucket.take()
        if wait > 0 and self.refused is not None:
            self.refused(client)
        return wait
