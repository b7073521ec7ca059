"""The replicas' shared live poll over a real Redis: the lease (taken by one, renewed only by
its holder, moved when it expires), the broadcast codec, and two hubs in one event loop over
one backend — polled once per interval whatever the number of replicas listening, each
change reaching the subscribers of both, the poll moving without spurious events when its
holder vanishes, a mutation through either published once, and each hub polling alone (log
line, metric) when Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from execgate.domain.access import Action
from execgate.domain.errors import UpstreamTimeout
from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Broadcast, Change, ChangeType, Notice, TrackerState
from execgate.domain.models import ExecutionStatus
from execgate.service.live import ALONE, FOLLOWS, LEADS, LiveHub, Subscriber
from execgate.shared import codec
from execgate.shared.live import RedisRelay
from execgate.shared.redis import SharedRedis
from execgate.simulate.server import free_port
from execgate.telemetry.metrics import Metrics
from tests.fakes import FakeBackend, make_execution
from tests.telemetry.test_metrics import samples

S = ExecutionStatus
INTERVAL = 0.1


class Vanishing(RedisRelay):
    """A replica that dies: it never gives its lease up."""

    async def release(self, instance: str) -> None:
        return None


def backend(count: int = 3) -> FakeBackend:
    return FakeBackend("a", [make_execution("a", str(i), minutes=i) for i in range(1, count + 1)])


def add(fake: FakeBackend, native_id: int, status: S) -> None:
    fake.items[str(native_id)] = make_execution(
        "a", str(native_id), minutes=native_id, status=status
    )


async def until(check: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("not reached in time")
        await asyncio.sleep(0.01)


async def changes(subscriber: Subscriber, quiet: float = 4 * INTERVAL) -> list[Change]:
    """Every change the subscriber receives until none came for ``quiet`` seconds."""
    found = []
    deadline = time.monotonic() + 5.0
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"changes never stopped coming: {found[:20]}")
        try:
            item = await asyncio.wait_for(subscriber.next(), quiet)
        except TimeoutError:
            return found
        assert isinstance(item, Change), item
        found.append(item)


async def holder(relay: RedisRelay, instance: str) -> str | None:
    """The token in ``instance``'s lease key now (``None``: nobody holds it)."""
    raw = await relay.redis.client.get(relay.lease_key(instance))
    return raw.decode() if isinstance(raw, bytes) else None


async def test_the_lease_is_held_by_one_renewed_by_it_and_moves_when_it_expires(
    shared: SharedRedis,
) -> None:
    one, other = RedisRelay(shared, token="one"), RedisRelay(shared, token="other")
    assert await one.claim("a", 0.3) is True
    assert await other.claim("a", 0.3) is False
    assert await one.claim("a", 0.3) is True  # renewed
    assert await other.claim("b", 0.3) is True  # one lease per instance
    await asyncio.sleep(0.2)
    assert await one.claim("a", 0.3) is True
    await asyncio.sleep(0.2)  # 0.4 s after it was taken: alive only because it was renewed
    assert await other.claim("a", 0.3) is False
    await other.release("a")  # not its lease: nothing happens
    assert await holder(one, "a") == "one"
    await asyncio.sleep(0.35)  # not renewed: expired
    assert await other.claim("a", 0.3) is True
    await other.release("a")
    assert await holder(one, "a") is None
    assert await one.claim("a", 0.3) is True


def test_a_broadcast_survives_the_codec() -> None:
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    running = make_execution("a", "7", minutes=7, status=S.RUNNING)
    done = make_execution("a", "8", minutes=8, status=S.FAILED)
    broadcast = Broadcast(
        "a",
        (
            Change(ChangeType.CREATED, running, None, at),
            Change(ChangeType.FINISHED, done, S.RUNNING, at),
            Notice("a", UpstreamTimeout("a", "instance 'a' did not answer in 5 s"), retry_in=4.0),
            Notice(None, None, dropped=3),
        ),
        TrackerState((running, done), (done.key, running.key)),
    )
    sender, back = codec.decode_broadcast(codec.encode_broadcast(broadcast, "token")) or ("", None)
    assert sender == "token"
    assert back is not None
    assert back.items[:2] == broadcast.items[:2]
    assert back.state == broadcast.state and back.acted is False
    timeout = back.items[2]
    assert isinstance(timeout, Notice) and isinstance(timeout.error, UpstreamTimeout)
    assert timeout.error.message == "instance 'a' did not answer in 5 s"
    assert timeout.retry_in == 4.0
    assert back.items[3] == Notice(None, None, dropped=3)
    assert codec.decode_broadcast(b'{"v": 99}') is None
    assert codec.decode_broadcast(b"not json") is None


async def test_two_hubs_share_one_poll_and_both_hear_every_change(shared: SharedRedis) -> None:
    fake = backend()
    first = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(shared, token="first"))
    second = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(shared, token="second"))
    async with AsyncExitStack() as stack:
        stack.push_async_callback(first.aclose)
        stack.push_async_callback(second.aclose)
        on_first = first.subscribe(["a"], lambda c: True, client="x")
        await until(lambda: first.roles().get("a") == LEADS)
        on_second = second.subscribe(["a"], lambda c: True, client="y")
        await until(lambda: second.roles().get("a") == FOLLOWS)
        await asyncio.wait_for(on_second.settled(), 2)
        await asyncio.sleep(0.2)

        # both listening: one poll per interval, made by the lease holder only
        calls, began = fake.calls, time.monotonic()
        await asyncio.sleep(20 * INTERVAL)
        per_interval = (fake.calls - calls) / ((time.monotonic() - began) / INTERVAL)
        assert 0.7 <= per_interval <= 1.1, per_interval
        assert sum(n for (_, o), n in second.polls.items()) == 0
        assert second.received["a"] >= 10

        add(fake, 4, S.RUNNING)
        got = await changes(on_first), await changes(on_second)
        assert [(c.type, c.key.native_id) for c in got[0]] == [(ChangeType.CREATED, "4")]
        assert got[1] == got[0]


async def test_the_poll_moves_when_its_holder_vanishes_without_a_burst(
    shared: SharedRedis,
) -> None:
    fake = backend(5)
    doomed = LiveHub({"a": fake}, interval=INTERVAL, relay=Vanishing(shared, token="doomed"))
    heir = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(shared, token="heir"))
    try:
        doomed.subscribe(["a"], lambda c: True, client="x")
        await until(lambda: doomed.roles().get("a") == LEADS)
        listener = heir.subscribe(["a"], lambda c: True, client="y")
        await until(lambda: heir.received["a"] >= 2)
        add(fake, 6, S.RUNNING)  # seen by the holder's poll only
        assert [c.key.native_id for c in await changes(listener)] == ["6"]

        await doomed.aclose()  # gone, lease and all
        gone = time.monotonic()
        await until(lambda: heir.roles().get("a") == LEADS, timeout=5)
        moved = time.monotonic() - gone
        assert moved <= 3 * INTERVAL + 0.15, moved
        # what the holder saw last is where the heir diffs from: no spurious event
        assert await changes(listener) == []
        add(fake, 6, S.SUCCESS)
        add(fake, 7, S.RUNNING)
        got = sorted((c.key.native_id, c.type) for c in await changes(listener))
        assert got == [("6", ChangeType.FINISHED), ("7", ChangeType.CREATED)]
    finally:
        await doomed.aclose()
        await heir.aclose()


async def test_a_mutation_through_a_follower_is_published_once_on_both(
    shared: SharedRedis,
) -> None:
    fake = backend()
    leader = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(shared, token="leader"))
    follower = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(shared, token="follower"))
    try:
        on_leader = leader.subscribe(["a"], lambda c: True, client="x")
        await until(lambda: leader.roles().get("a") == LEADS)
        on_follower = follower.subscribe(["a"], lambda c: True, client="y")
        await until(lambda: follower.received["a"] >= 2)

        del fake.items["3"]
        await follower.acted(Action.DELETE, ExecutionKey("a", "3"))
        for subscriber in (on_leader, on_follower):
            got = await changes(subscriber, quiet=6 * INTERVAL)
            assert [(c.type, c.key.native_id) for c in got] == [(ChangeType.DELETED, "3")]
    finally:
        await leader.aclose()
        await follower.aclose()


async def test_without_redis_each_hub_polls_alone_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    redis = SharedRedis(f"redis://127.0.0.1:{free_port()}/0", retry_after=0.5)
    metrics = Metrics(["a"])
    fake = backend()
    hub = LiveHub({"a": fake}, interval=INTERVAL, relay=RedisRelay(redis))
    metrics.watch_live(hub)
    try:
        with caplog.at_level(logging.WARNING):
            subscriber = hub.subscribe(["a"], lambda c: True, client="x")
            await asyncio.wait_for(subscriber.settled(), 3)
            assert hub.roles() == {"a": ALONE}
            add(fake, 4, S.RUNNING)
            got = await changes(subscriber)
        assert [c.key.native_id for c in got] == ["4"]
        found = samples(metrics)
        assert found[("execgate_live_alone", (("instance", "a"),))] == 1
        assert found[("execgate_live_lease_held", (("instance", "a"),))] == 0
        assert found[("execgate_live_polls_total", (("instance", "a"), ("outcome", "ok")))] >= 2
        assert found[("execgate_live_subscribers", (("instance", "a"),))] == 1
        alone = [r for r in caplog.records if "runs on this replica alone" in r.getMessage()]
        assert len(alone) == 1
    finally:
        await hub.aclose()
        await redis.aclose()
