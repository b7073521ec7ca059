"""Token buckets per client."""

from __future__ import annotations

import pytest

from execgate.domain.access import Scope
from execgate.security.clients import Client
from execgate.security.ratelimit import RateLimiter, TokenBucket, retry_after_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(2.0, 4, clock)
    # a full bucket: four at once, then wait half a second for the next
    assert [bucket.take() for _ in range(4)] == [0.0] * 4
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.25
    assert bucket.take() == pytest.approx(0.25)
    clock.now += 0.25
    assert bucket.take() == 0.0
    # a long pause refills only up to the burst
    clock.now += 100
    assert [bucket.take() for _ in range(5)][:4] == [0.0] * 4
    assert bucket.take() > 0


def test_a_clock_going_backwards_adds_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 1, clock)
    assert bucket.take() == 0.0
    clock.now -= 10
    assert bucket.take() == pytest.approx(1.0)


@pytest.mark.parametrize(("wait", "header"), [(0.01, 1), (1.0, 1), (1.2, 2), (29.5, 30)])
def test_retry_after_is_whole_seconds_at_least_one(wait: float, header: int) -> None:
    assert retry_after_seconds(wait) == header


def test_bad_buckets_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0, 1)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)


def test_limiter_limits_only_clients_with_a_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(
        [
            Client("slow", "00" * 32, Scope.full("slow"), rate_per_second=1.0, burst=2),
            Client("steady", "11" * 32, Scope.full("steady"), rate_per_second=2.5),
            Client("free", "22" * 32, Scope.full("free")),
        ],
        clock,
    )
    assert [limiter.check("slow") for _ in range(3)][:2] == [0.0, 0.0]
    assert limiter.check("slow") > 0
    # without a burst, the bucket holds one second's worth (rounded up)
    assert [limiter.check("steady") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("steady") > 0
    assert all(limiter.check("free") == 0.0 for _ in range(1000))
    assert limiter.check("unknown") == 0.0
