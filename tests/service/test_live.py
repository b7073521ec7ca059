"""The live hub and its pollers: one per instance, started and stopped by subscribers, backing off
when the instance fails, scoped like the feed, and told of mutations at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace

import pytest

from execgate.domain.access import Action, Scope
from execgate.domain.errors import (
    Forbidden,
    TooManySubscriptions,
    UnknownInstance,
    UpstreamUnavailable,
)
from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Change, ChangeType, Notice
from execgate.domain.models import ExecutionStatus
from execgate.service.actions import ActionTarget
from execgate.service.gateway import FeedFilter, Gateway
from execgate.service.live import LiveHub, Subscriber
from execgate.service.poller import MAX_BACKOFF_SECONDS, Poller
from tests.fakes import FakeBackend, make_execution

S = ExecutionStatus
FAST = 0.02


def backend(name: str, count: int = 3) -> FakeBackend:
    return FakeBackend(name, [make_execution(name, str(i), minutes=i) for i in range(1, count + 1)])


def add(fake: FakeBackend, native_id: int, status: S) -> None:
    fake.items[str(native_id)] = make_execution(
        fake.name, str(native_id), minutes=native_id, status=status
    )


async def settle(*subscribers: Subscriber) -> None:
    for subscriber in subscribers:
        await asyncio.wait_for(subscriber.settled(), 2)


async def next_change(subscriber: Subscriber, timeout: float = 2.0) -> Change:
    item = await asyncio.wait_for(subscriber.next(), timeout)
    assert isinstance(item, Change), item
    return item


async def test_a_thousand_subscribers_cost_the_instance_what_one_does() -> None:
    fake = backend("a")
    hub = LiveHub({"a": fake}, interval=FAST)
    try:
        subscribers = [
            hub.subscribe(["a"], lambda c: True, client=f"c{i % 50}") for i in range(1000)
        ]
        assert hub.running() == frozenset({"a"})
        await settle(subscribers[0])
        add(fake, 9, S.RUNNING)
        changes = [await next_change(s) for s in subscribers]
        assert {(c.type, c.execution.native_id) for c in changes} == {(ChangeType.CREATED, "9")}
        stats = hub.stats()["a"]
        # one watch request per poll (the fake's whole cost), whoever listens
        assert fake.calls == stats.calls == stats.polls
        assert stats.subscribers == 1000
    finally:
        await hub.aclose()


async def test_the_poller_starts_with_the_first_subscriber_and_stops_with_the_last() -> None:
    fake = backend("a")
    hub = LiveHub({"a": fake, "b": backend("b")}, interval=FAST)
    try:
        assert hub.running() == frozenset()
        first = hub.subscribe(["a"], lambda c: True, client="x")
        second = hub.subscribe(["a", "b"], lambda c: True, client="x")
        assert hub.running() == frozenset({"a", "b"})
        second.close()
        second.close()  # idempotent
        assert hub.running() == frozenset({"a"})
        await settle(first)
        first.close()
        assert hub.running() == frozenset()
        calls = fake.calls
        await asyncio.sleep(FAST * 5)
        assert fake.calls == calls  # nothing polls an instance nobody listens to
    finally:
        await hub.aclose()


async def test_a_slow_subscriber_never_holds_up_the_others_nor_grows_without_bound() -> None:
    fake = backend("a")
    hub = LiveHub({"a": fake}, interval=FAST, capacity=5)
    try:
        slow = hub.subscribe(["a"], lambda c: True, client="slow")
        quick = hub.subscribe(["a"], lambda c: True, client="quick")
        await settle(quick)
        for number in range(10, 30):
            add(fake, number, S.PENDING)
            assert (await next_change(quick)).execution.native_id == str(number)
        assert len(slow.mailbox) == 5  # never more than its capacity
        dropped = await slow.next()
        assert isinstance(dropped, Notice) and dropped.dropped == 15
    finally:
        await hub.aclose()


class Recorder:
    def __init__(self) -> None:
        self.items: list[Change | Notice] = []
        self.changed = asyncio.Event()

    def __call__(self, name: str, items: Sequence[Change | Notice]) -> None:
        self.items.extend(items)
        if any(isinstance(i, Change) for i in items):
            self.changed.set()


async def test_a_failing_instance_backs_off_says_so_once_then_catches_up() -> None:
    fake = backend("a")
    published = Recorder()
    waits: list[float] = []
    resume, eight = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # after the baseline: down from now on, changing meanwhile
            fake.failure = UpstreamUnavailable("a", "connection refused")
            add(fake, 7, S.RUNNING)
        if len(waits) >= 8:
            eight.set()
            await resume.wait()
        await asyncio.sleep(0)

    poller = Poller("a", fake, interval=2.0, publish=published, sleep=sleep, clock=lambda: 0.0)
    task = asyncio.create_task(poller.run())
    try:
        await asyncio.wait_for(eight.wait(), 2)
        # the interval, then doubling on each failure, never above the ceiling
        assert waits[:8] == [2.0, 2.0, 4.0, 8.0, 16.0, MAX_BACKOFF_SECONDS, 30.0, 30.0]
        notices = [i for i in published.items if isinstance(i, Notice)]
        assert len(notices) == 1  # said once per outage
        assert notices[0].error is not None and notices[0].error.code == "UPSTREAM_UNAVAILABLE"
        assert notices[0].retry_in == 2.0
        fake.failure = None
        resume.set()
        await asyncio.wait_for(published.changed.wait(), 2)
        created = [i for i in published.items if isinstance(i, Change)]
        assert [(c.type, c.execution.native_id) for c in created] == [(ChangeType.CREATED, "7")]
        assert poller.failures == 0
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_subscribers_hear_of_an_outage_and_of_the_changes_after_it() -> None:
    fake = backend("a")
    hub = LiveHub({"a": fake}, interval=FAST)
    try:
        subscriber = hub.subscribe(["a"], lambda c: True, client="x")
        await settle(subscriber)
        fake.failure = UpstreamUnavailable("a", "connection refused")
        notice = await asyncio.wait_for(subscriber.next(), 2)
        assert isinstance(notice, Notice) and notice.instance == "a"
        add(fake, 8, S.SUCCESS)
        fake.failure = None
        change = await next_change(subscriber, timeout=5)
        assert (change.type, change.execution.native_id) == (ChangeType.CREATED, "8")
    finally:
        await hub.aclose()


def gateway(hub: LiveHub, backends: dict[str, FakeBackend]) -> Gateway:
    return Gateway(backends, live=hub)


async def test_a_subscription_sees_its_scope_and_its_filter_only() -> None:
    backends = {"a": backend("a"), "b": backend("b")}
    hub = LiveHub(backends, interval=FAST)
    try:
        scoped = gateway(hub, backends).scoped(Scope.of("team-a", ["a"], [Action.READ]))
        with pytest.raises(UnknownInstance):
            scoped.watch(FeedFilter(instances=("b",)))
        failed_only = scoped.watch(FeedFilter(statuses=frozenset({S.FAILED})))
        assert hub.running() == frozenset({"a"})
        await settle(failed_only)
        add(backends["b"], 20, S.FAILED)  # not its instance
        add(backends["a"], 21, S.SUCCESS)  # not its status
        add(backends["a"], 22, S.FAILED)
        change = await next_change(failed_only)
        assert change.key == ExecutionKey("a", "22")
        assert len(failed_only.mailbox) == 0
    finally:
        await hub.aclose()


async def test_a_client_without_read_may_not_subscribe() -> None:
    backends = {"a": backend("a")}
    hub = LiveHub(backends, interval=FAST)
    blind = gateway(hub, backends).scoped(Scope.of("blind", None, [Action.CANCEL]))
    with pytest.raises(Forbidden):
        blind.watch(FeedFilter())
    assert hub.running() == frozenset()


async def test_a_client_holds_at_most_its_limit_of_subscriptions() -> None:
    backends = {"a": backend("a")}
    hub = LiveHub(backends, interval=FAST, max_per_client=2)
    try:
        view = gateway(hub, backends).scoped(Scope.of("dash", None, [Action.READ]))
        first, _second = view.watch(FeedFilter()), view.watch(FeedFilter())
        with pytest.raises(TooManySubscriptions) as refused:
            view.watch(FeedFilter())
        assert refused.value.code == "TOO_MANY_SUBSCRIPTIONS"
        other = gateway(hub, backends).scoped(Scope.of("other", None, [Action.READ]))
        other.watch(FeedFilter()).close()  # another client's count is its own
        first.close()
        view.watch(FeedFilter())  # one ended: room again
        assert hub.subscriptions("dash") == 2
    finally:
        await hub.aclose()


async def test_mutations_through_the_gateway_are_pushed_before_the_next_poll() -> None:
    fake = backend("a")
    add(fake, 5, S.RUNNING)
    backends = {"a": fake}
    hub = LiveHub(backends, interval=60.0)  # no second poll during this test
    try:
        view = gateway(hub, backends)
        watching = view.watch(FeedFilter())
        one = view.watch_execution(ExecutionKey("a", "5"))
        await settle(watching, one)

        async def read(key: ExecutionKey) -> object:
            return fake.items.get(key.native_id)

        outcome = await view.perform(
            Action.CANCEL,
            ActionTarget("id", ExecutionKey("a", "5")),
            read,  # type: ignore[arg-type]
        )
        assert outcome.ok
        change = await next_change(watching, timeout=0.5)
        assert (change.type, change.previous, change.execution.status) == (
            ChangeType.FINISHED,
            S.RUNNING,
            S.CANCELLED,
        )
        assert (await next_change(one, timeout=0.5)).execution.status is S.CANCELLED
        assert hub.stats()["a"].polls == 1
    finally:
        await hub.aclose()


async def test_a_deletion_and_a_retry_are_pushed_without_a_read() -> None:
    fake = backend("a")
    hub = LiveHub({"a": fake}, interval=60.0)
    try:
        subscriber = hub.subscribe(["a"], lambda c: True, client="x")
        await settle(subscriber)
        calls = fake.calls
        await hub.acted(Action.DELETE, ExecutionKey("a", "2"))
        retry = replace(make_execution("a", "4", minutes=4), retry_of="3")
        await hub.acted(Action.RETRY, ExecutionKey("a", "3"), retry)
        deleted, created = await next_change(subscriber), await next_change(subscriber)
        assert (deleted.type, deleted.execution.native_id) == (ChangeType.DELETED, "2")
        assert (created.type, created.execution.native_id) == (ChangeType.CREATED, "4")
        assert fake.calls == calls
        # an instance nobody listens to is left alone
        await hub.acted(Action.DELETE, ExecutionKey("zz", "1"))
    finally:
        await hub.aclose()


async def test_the_relay_sender_stops_when_a_send_swallows_its_cancellation() -> None:
    # The Redis client may swallow a cancellation that lands mid-publish: the sender still
    # ends (before, it went back to wait on its empty outbox, and the hub's aclose with it).
    from execgate.domain.live import Broadcast

    sending = asyncio.Event()

    class Swallowing:
        async def send(self, broadcast: Broadcast) -> bool:
            sending.set()
            try:
                await asyncio.sleep(5)
            except asyncio.CancelledError:
                return False
            return True

    outbox: asyncio.Queue[Broadcast] = asyncio.Queue()
    outbox.put_nowait(Broadcast("a", ()))
    sender = asyncio.create_task(LiveHub._send_all(Swallowing(), outbox))  # type: ignore[arg-type]
    await sending.wait()
    sender.cancel()
    await asyncio.wait_for(sender, 1.0)
    assert sender.done()
