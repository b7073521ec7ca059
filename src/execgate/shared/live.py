"""The replicas' shared live poll over Redis (the domain's ``Relay`` port, ``domain/ports.py``).

The lease of an instance's poll is one key holding the holder's token (random, one per
process), taken with ``SET NX PX`` and renewed — only by its holder — by one Lua script that
does both, so two replicas never both think they took it; another script deletes it only for
its holder. Broadcasts travel on one pub/sub channel per instance (``codec.encode_broadcast``,
versioned JSON); a replica ignores its own. Every command goes through ``SharedRedis.run``, so
a Redis that does not answer is marked down (log line, ``execgate_redis_*`` metrics) and
``claim`` answers ``None`` at once until it is tried again; the listener reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

from redis.exceptions import RedisError

from execgate.domain.live import Broadcast, Receive
from execgate.shared import codec
from execgate.shared.redis import SharedRedis, SharedUnavailable

log = logging.getLogger("execgate.shared")

CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
"""Takes the lease when nobody holds it, renews it when this token does: 1 when held."""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

LISTEN_WAIT = 1.0
"""Seconds one wait for a broadcast lasts (the listener then checks it is still wanted)."""


class RedisRelay:
    def __init__(self, redis: SharedRedis, *, token: str | None = None) -> None:
        self.redis = redis
        self.token = token or secrets.token_hex(8)
        self._claim = redis.client.register_script(CLAIM)
        self._release = redis.client.register_script(RELEASE)

    def lease_key(self, instance: str) -> str:
        return self.redis.key("live", "lease", instance)

    def channel(self, instance: str) -> str:
        return self.redis.key("live", "events", instance)

    async def claim(self, instance: str, ttl: float) -> bool | None:
        key = self.lease_key(instance)
        args: list[str | int] = [self.token, max(1, int(ttl * 1000))]
        try:
            held = await self.redis.run("live_lease", lambda _: self._claim(keys=[key], args=args))
        except SharedUnavailable:
            return None
        return bool(held)

    async def release(self, instance: str) -> None:
        key = self.lease_key(instance)
        with contextlib.suppress(SharedUnavailable):
            await self.redis.run(
                "live_lease", lambda _: self._release(keys=[key], args=[self.token])
            )

    async def send(self, broadcast: Broadcast) -> bool:
        payload = codec.encode_broadcast(broadcast, self.token)
        channel = self.channel(broadcast.instance)
        try:
            await self.redis.run("live_publish", lambda client: client.publish(channel, payload))
        except SharedUnavailable:
            return False
        return True

    async def follow(self, instance: str, receive: Receive, ready: Callable[[], None]) -> None:
        channel = self.channel(instance)
        task = asyncio.current_task()
        # a cancellation that the Redis client swallowed still ends the loop
        while task is None or not task.cancelling():
            if self.redis.resting:
                await asyncio.sleep(min(self.redis.retry_after, LISTEN_WAIT))
                continue
            pubsub = self.redis.client.pubsub(ignore_subscribe_messages=True)
            try:
                async with asyncio.timeout(self.redis.timeout):
                    await pubsub.subscribe(channel)
                self.redis.answered()
                ready()
                while task is None or not task.cancelling():
                    message = await pubsub.get_message(
                        ignore_subscribe_messages=True, timeout=LISTEN_WAIT
                    )
                    if message is None or not isinstance(message.get("data"), bytes):
                        continue
                    decoded = codec.decode_broadcast(message["data"])
                    if decoded is None:
                        log.warning("a live broadcast for instance %r did not decode", instance)
                        continue
                    sender, broadcast = decoded
                    if sender != self.token and broadcast.instance == instance:
                        receive(broadcast)
            except (RedisError, OSError, TimeoutError) as exc:
                self.redis.failed("live_listen", exc)
                await asyncio.sleep(LISTEN_WAIT)
            finally:
                with contextlib.suppress(RedisError, OSError, TimeoutError):
                    await pubsub.aclose()
