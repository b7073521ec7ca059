"""Live changes for subscribers: one poller per instance, shared by everyone who listens.

``LiveHub.subscribe`` registers a subscriber for some instances with a predicate on changes
(its filter; its scope chose the instances). The first subscriber of an instance starts its
``Poller``; the last one to leave stops it, and nothing is polled for an instance nobody
listens to. Each poll's changes are handed to the interested subscribers' mailboxes
(``service/mailbox.py``: bounded, coalescing, never waiting), so a thousand subscribers cost
the instance no more requests than one.

Mutations made through execgate reach subscribers at once (``LiveHub.acted``, called by
``Gateway.perform``): a delete as known, a retry's new execution as read, a cancel by reading
the execution again (one request), without waiting for the next poll.

A client may hold at most ``max_per_client`` subscriptions at a time, across every transport
(``TooManySubscriptions`` beyond).

Replicas (``relay``, ``[shared] redis_url``): each instance is then polled by one replica at a
time, whichever holds its lease (the ``Relay`` port); every replica with subscribers for the
instance tries to take or renew it every poll interval, and the lease lasts ``LEASE_INTERVALS``
intervals, so it moves within about three intervals of its holder's death (at once when the
holder stops). The holder publishes each poll to its own subscribers and broadcasts it, with its
tracker's state, to the others, which hand it to theirs and keep the state: the one that takes
the poll over diffs from it, so a move publishes only what really changed. A mutation through
any replica is published by that replica at once and broadcast as ``acted``, which every
tracker takes in, so the next poll does not publish it again. While the relay cannot say who
holds a lease (Redis does not answer), each replica polls on its own — its ``role`` is
``alone`` — and says so in its log and metrics; it shares the poll again once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from execgate.domain.access import Action
from execgate.domain.errors import BackendError, TooManySubscriptions
from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Broadcast, Change, ChangeType, Notice
from execgate.domain.models import Execution
from execgate.domain.ports import Backend, Relay
from execgate.service.mailbox import DEFAULT_CAPACITY, Mailbox
from execgate.service.poller import RECENT, Poller, utcnow

log = logging.getLogger("execgate.live")

DEFAULT_INTERVAL = 2.0
DEFAULT_MAX_PER_CLIENT = 20
LEASE_INTERVALS = 2.0
"""How many poll intervals a lease lasts unless renewed (its holder renews it every one)."""
OUTBOX = 256
"""Broadcasts waiting to be sent, at most (the oldest are dropped beyond)."""

LEADS = "leads"
"""This replica holds the instance's lease: it polls for every replica."""
FOLLOWS = "follows"
"""Another replica holds the lease: this one receives its polls."""
ALONE = "alone"
"""Redis does not answer: this replica polls the instance on its own."""

Wants = Callable[[Change], bool]


class Subscriber:
    """One subscription's end of the hub: changes of its instances that it wants, and
    notices about those instances, from its own mailbox. ``close`` (idempotent) leaves."""

    def __init__(
        self, hub: LiveHub, instances: frozenset[str], wants: Wants, client: str, capacity: int
    ) -> None:
        self.hub = hub
        self.instances = instances
        self.wants = wants
        self.client = client
        self.mailbox = Mailbox(capacity)

    def next(self) -> Awaitable[Change | Notice]:
        """The next change or notice (``mailbox.Closed`` once closed): the mailbox's own
        wait, with no coroutine of this object's held around it while it waits."""
        return self.mailbox.get()

    async def settled(self) -> None:
        """Wait until every instance of this subscription has been polled once."""
        await self.hub.settled(self.instances)

    def close(self) -> None:
        if not self.mailbox.closed:
            self.mailbox.close()
            self.hub.leave(self)


@dataclass(frozen=True, slots=True)
class PollerStats:
    polls: int
    calls: int
    failures: int
    subscribers: int


class LiveHub:
    def __init__(
        self,
        backends: Mapping[str, Backend],
        *,
        interval: float = DEFAULT_INTERVAL,
        max_per_client: int = DEFAULT_MAX_PER_CLIENT,
        recent: int = RECENT,
        capacity: int = DEFAULT_CAPACITY,
        poller: Callable[..., Poller] = Poller,
        relay: Relay | None = None,
    ) -> None:
        self.backends = dict(backends)
        self.interval = interval
        self.max_per_client = max_per_client
        self.recent = recent
        self.capacity = capacity
        self.relay = relay
        self.lease_seconds = LEASE_INTERVALS * interval
        self._make_poller = poller
        self._pollers: dict[str, Poller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._shifts: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._per_client: Counter[str] = Counter()
        self._roles: dict[str, str] = {}
        self._listening: set[str] = set()
        self._outbox: asyncio.Queue[Broadcast] | None = None
        self._sender: asyncio.Task[None] | None = None
        self.polls: Counter[tuple[str, str]] = Counter()
        """Polls this replica made, by instance and outcome (``ok`` or what failed)."""
        self.received: Counter[str] = Counter()
        """Polls of another replica received, by instance."""

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe(self, instances: Collection[str], wants: Wants, *, client: str) -> Subscriber:
        """A subscriber to the changes of ``instances`` that ``wants`` selects."""
        if self._per_client[client] >= self.max_per_client:
            raise TooManySubscriptions(
                f"client {client!r} already holds {self.max_per_client} live subscriptions, "
                "its most ([limits] max_subscriptions_per_client); end one first"
            )
        unknown = [name for name in instances if name not in self.backends]
        if unknown:
            raise KeyError(unknown[0])
        subscriber = Subscriber(self, frozenset(instances), wants, client, self.capacity)
        self._per_client[client] += 1
        for name in subscriber.instances:
            self._subscribers.setdefault(name, set()).add(subscriber)
            if name not in self._tasks:
                self._start(name)
        return subscriber

    def leave(self, subscriber: Subscriber) -> None:
        self._per_client[subscriber.client] -= 1
        if self._per_client[subscriber.client] <= 0:
            del self._per_client[subscriber.client]
        for name in subscriber.instances:
            listening = self._subscribers.get(name)
            if listening is None:
                continue
            listening.discard(subscriber)
            if not listening:
                del self._subscribers[name]
                self._stop(name)

    def subscriptions(self, client: str) -> int:
        return self._per_client[client]

    async def settled(self, instances: Collection[str]) -> None:
        pollers = [self._pollers[name] for name in instances if name in self._pollers]
        await asyncio.gather(*(p.settled.wait() for p in pollers))

    # -- pollers -------------------------------------------------------------------------------

    def _start(self, name: str) -> None:
        poller = self._make_poller(
            name,
            self.backends[name],
            interval=self.interval,
            publish=self._publish,
            recent=self.recent,
        )
        poller.report = self._report
        self._pollers[name] = poller
        loop = asyncio.get_running_loop()
        if self.relay is not None:
            # nothing is polled before the lease says who polls
            poller.polling.clear()
            poller.every_poll = True
            self._shifts[name] = loop.create_task(
                self._shift(name, poller, self.relay), name=f"execgate-lease-{name}"
            )
        self._tasks[name] = loop.create_task(poller.run(), name=f"execgate-live-{name}")

    def _stop(self, name: str) -> None:
        self._pollers.pop(name, None)
        for tasks in (self._tasks, self._shifts):
            task = tasks.pop(name, None)
            if task is not None:
                task.cancel()

    def running(self) -> frozenset[str]:
        """The instances being polled now (or received from the replica that polls them)."""
        return frozenset(self._tasks)

    def subscriber_counts(self) -> dict[str, int]:
        """Subscribers of each configured instance on this replica."""
        return {name: len(self._subscribers.get(name, ())) for name in self.backends}

    @property
    def shared(self) -> bool:
        """Whether the replicas share each instance's poll (there is a relay)."""
        return self.relay is not None

    def roles(self) -> dict[str, str]:
        """With a relay: each instance with subscribers here, and who polls it (``LEADS``,
        ``FOLLOWS``, ``ALONE``); instances not decided yet are left out."""
        return dict(self._roles)

    def _report(self, name: str, outcome: str) -> None:
        self.polls[name, outcome] += 1

    # -- the poll shared by replicas -----------------------------------------------------------

    async def _shift(self, name: str, poller: Poller, relay: Relay) -> None:
        """Keep (or wait for) the lease of ``name``'s poll while it has subscribers here."""
        loop = asyncio.get_running_loop()
        follow = loop.create_task(
            relay.follow(name, self._received, lambda: self._heard(name)),
            name=f"execgate-follow-{name}",
        )
        task = asyncio.current_task()
        try:
            # a cancellation that a Redis client swallowed still ends the loop
            while task is None or not task.cancelling():
                started = time.monotonic()
                self._turn(name, poller, await relay.claim(name, self.lease_seconds))
                await asyncio.sleep(max(0.0, started + self.interval - time.monotonic()))
        finally:
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow
            if name not in self._shifts:  # not started again meanwhile
                role = self._roles.pop(name, None)
                self._listening.discard(name)
                if role == LEADS:
                    await relay.release(name)

    def _turn(self, name: str, poller: Poller, held: bool | None) -> None:
        role = LEADS if held else FOLLOWS if held is False else ALONE
        before = self._roles.get(name)
        if role == before:
            return
        self._roles[name] = role
        if role == ALONE:
            log.warning(
                "live poll of instance %r runs on this replica alone: the shared Redis does "
                "not answer",
                name,
            )
        elif before == ALONE:
            log.warning("live poll of instance %r is shared by the replicas again", name)
        if role == FOLLOWS:
            poller.polling.clear()
            log.info("live poll of instance %r: another replica polls it", name)
            if name in self._listening:
                poller.settled.set()
        else:
            if role == LEADS:
                log.info("live poll of instance %r: this replica polls it for all", name)
            poller.polling.set()

    def _heard(self, name: str) -> None:
        """The relay listens to ``name``'s broadcasts (again)."""
        self._listening.add(name)
        poller = self._pollers.get(name)
        if poller is not None and self._roles.get(name) == FOLLOWS:
            poller.settled.set()

    def _received(self, broadcast: Broadcast) -> None:
        """A broadcast of another replica: to the subscribers here, and to the tracker."""
        name = broadcast.instance
        poller = self._pollers.get(name)
        if poller is None:
            return
        if broadcast.acted:
            found: dict[ExecutionKey, Execution | None] = {
                item.key: None if item.type is ChangeType.DELETED else item.execution
                for item in broadcast.items
                if isinstance(item, Change)
            }
            poller.tracker.apply(found, utcnow())
        elif poller.polling.is_set():
            return  # this replica polls too, for now: it publishes what it sees itself
        else:
            self.received[name] += 1
            if broadcast.state is not None:
                poller.tracker.restore(broadcast.state)
            poller.settled.set()
        self._deliver(name, broadcast.items)

    def _send(self, broadcast: Broadcast) -> None:
        if self.relay is None:
            return
        if self._outbox is None:
            self._outbox = asyncio.Queue(OUTBOX)
            self._sender = asyncio.get_running_loop().create_task(
                self._send_all(self.relay, self._outbox), name="execgate-live-relay"
            )
        if self._outbox.full():
            self._outbox.get_nowait()
        self._outbox.put_nowait(broadcast)

    @staticmethod
    async def _send_all(relay: Relay, outbox: asyncio.Queue[Broadcast]) -> None:
        task = asyncio.current_task()
        # A cancellation the Redis client swallows mid-send still ends the loop (without this
        # check the task waits on the empty outbox for good, and ``aclose`` with it).
        while task is None or not task.cancelling():
            await relay.send(await outbox.get())

    def stats(self) -> dict[str, PollerStats]:
        return {
            name: PollerStats(p.polls, p.calls, p.failures, len(self._subscribers.get(name, ())))
            for name, p in self._pollers.items()
        }

    def _publish(self, name: str, items: Sequence[Change | Notice]) -> None:
        """One poll's changes (or its notice): to the subscribers here and, from the replica
        that holds the lease, to the others with the tracker's state."""
        if items:
            self._deliver(name, items)
        poller = self._pollers.get(name)
        if poller is not None and self._roles.get(name) == LEADS:
            self._send(Broadcast(name, tuple(items), poller.tracker.state()))

    def _publish_acted(self, name: str, items: Sequence[Change | Notice]) -> None:
        """What a mutation through this replica changed: here, and to the other replicas."""
        self._deliver(name, items)
        if self._roles.get(name) in (LEADS, FOLLOWS):
            self._send(Broadcast(name, tuple(items), acted=True))

    def _deliver(self, name: str, items: Sequence[Change | Notice]) -> None:
        for subscriber in list(self._subscribers.get(name, ())):
            mailbox = subscriber.mailbox
            for item in items:
                if isinstance(item, Notice) or subscriber.wants(item):
                    mailbox.put(item)

    async def aclose(self) -> None:
        """Stop every poller and end every subscription."""
        tasks = list(self._tasks.values())
        for subscribers in list(self._subscribers.values()):
            for subscriber in list(subscribers):
                subscriber.close()
        shifts = list(self._shifts.values())
        for name in list(self._tasks):
            self._stop(name)
        for task in (*tasks, *shifts):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
            self._sender = None
            self._outbox = None

    # -- mutations -----------------------------------------------------------------------------

    async def acted(
        self, action: Action, key: ExecutionKey, retry: Execution | None = None
    ) -> None:
        """Publish what a mutation through execgate did to ``key`` (and its ``retry``), now."""
        poller = self._pollers.get(key.instance)
        if poller is None:
            return
        try:
            publish = self._publish_acted
            if action is Action.DELETE:
                await poller.refresh({key: None}, publish=publish)
            elif action is Action.RETRY and retry is not None:
                await poller.refresh({retry.key: retry}, publish=publish)
            elif action is Action.CANCEL:
                await poller.refresh(read=[key.native_id], publish=publish)
        except BackendError:
            return  # the next poll sees it
