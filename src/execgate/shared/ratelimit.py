"""Client rate limits across replicas: one token bucket per client, in Redis, taken atomically.

The bucket is a Redis hash (tokens, last refill) updated by one Lua script, so replicas never
race on it; the time is Redis's own (``TIME``), so replicas' clocks do not matter. It expires
once it would be full again. When Redis cannot answer, ``take`` answers ``None`` and the
caller uses its own bucket in process.
"""

from __future__ import annotations

from execgate.shared.redis import SharedRedis, SharedUnavailable

TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""
"""Takes one token: answers 0 when granted, else the seconds until one is there (as text,
so the fraction survives Redis's integer replies)."""


class SharedBuckets:
    def __init__(self, redis: SharedRedis) -> None:
        self.redis = redis
        self._take = redis.client.register_script(TAKE)

    async def take(self, client: str, rate: float, burst: int) -> float | None:
        """0.0 when granted, else the seconds to wait; ``None`` when Redis cannot say."""
        key = self.redis.key("rate", client)
        try:
            answer = await self.redis.run(
                "rate_limit", lambda _: self._take(keys=[key], args=[rate, burst])
            )
        except SharedUnavailable:
            return None
        return float(answer)
