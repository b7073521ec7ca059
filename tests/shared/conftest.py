"""Fixtures of the shared-state tests: one real Redis server per module, and a ``SharedRedis``
per test under a prefix of its own, over an emptied database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from execgate.shared.redis import SharedRedis
from tests.shared.redis_server import RunningRedis, redis_server


@pytest.fixture(scope="module")
def server() -> Iterator[RunningRedis]:
    with redis_server() as running:
        yield running


@pytest.fixture
async def shared(
    server: RunningRedis, request: pytest.FixtureRequest
) -> AsyncIterator[SharedRedis]:
    redis = SharedRedis(server.url, prefix=f"t-{request.node.name[:40]}:")
    await redis.client.flushdb()
    yield redis
    await redis.aclose()
