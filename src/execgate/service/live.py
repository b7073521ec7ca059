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
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from execgate.domain.access import Action
from execgate.domain.errors import BackendError, TooManySubscriptions
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution
from execgate.domain.ports import Backend
from execgate.service.changes import Change, Notice
from execgate.service.mailbox import DEFAULT_CAPACITY, Mailbox
from execgate.service.poller import RECENT, Poller

DEFAULT_INTERVAL = 2.0
DEFAULT_MAX_PER_CLIENT = 20

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
    ) -> None:
        self.backends = dict(backends)
        self.interval = interval
        self.max_per_client = max_per_client
        self.recent = recent
        self.capacity = capacity
        self._make_poller = poller
        self._pollers: dict[str, Poller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._per_client: Counter[str] = Counter()

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
        self._pollers[name] = poller
        self._tasks[name] = asyncio.get_running_loop().create_task(
            poller.run(), name=f"execgate-live-{name}"
        )

    def _stop(self, name: str) -> None:
        self._pollers.pop(name, None)
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    def running(self) -> frozenset[str]:
        """The instances being polled now."""
        return frozenset(self._tasks)

    def stats(self) -> dict[str, PollerStats]:
        return {
            name: PollerStats(p.polls, p.calls, p.failures, len(self._subscribers.get(name, ())))
            for name, p in self._pollers.items()
        }

    def _publish(self, name: str, items: Sequence[Change | Notice]) -> None:
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
        for name in list(self._tasks):
            self._stop(name)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- mutations -----------------------------------------------------------------------------

    async def acted(
        self, action: Action, key: ExecutionKey, retry: Execution | None = None
    ) -> None:
        """Publish what a mutation through execgate did to ``key`` (and its ``retry``), now."""
        poller = self._pollers.get(key.instance)
        if poller is None:
            return
        try:
            if action is Action.DELETE:
                await poller.refresh({key: None})
            elif action is Action.RETRY and retry is not None:
                await poller.refresh({retry.key: retry})
            elif action is Action.CANCEL:
                await poller.refresh(read=[key.native_id])
        except BackendError:
            return  # the next poll sees it
