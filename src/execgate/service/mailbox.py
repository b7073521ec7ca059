"""One live subscriber's queue: bounded, coalescing, never blocking whoever fills it.

The poller puts every change into each interested subscriber's ``Mailbox`` without waiting, so
a subscriber that reads slowly (a slow network, a slow client) never slows the poller nor the
other subscribers. A change to an execution that already waits in the box replaces it in
place (``Change.then``): a slow subscriber gets the newest state of each execution, seen from
the status it knew last, in the order the executions first changed. Notices wait under their
instance, newest kept. When more than ``capacity`` executions wait, the oldest is dropped and
counted; the subscriber then receives a notice saying how many it missed.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Hashable

from execgate.domain.live import Change, Notice

DEFAULT_CAPACITY = 256

_CLOSED = object()


class Closed(Exception):
    """The mailbox was closed: nothing more will come."""


class Mailbox:
    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, Change | Notice] = OrderedDict()
        self._waiter: asyncio.Future[None] | None = None
        """The reader's wake-up while it waits (made then: an idle box holds no future, so a
        thousand waiting subscribers cost no more than their boxes)."""
        self._closed = False
        self.dropped = 0
        """Changes dropped and not yet reported."""
        self.delivered = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: Change | Notice) -> None:
        """Queue ``item`` at once (coalesced with what waits for the same execution)."""
        if self._closed:
            return
        if isinstance(item, Notice):
            self._items[("notice", item.instance)] = item
        else:
            waiting = self._items.get(item.key)
            self._items[item.key] = waiting.then(item) if isinstance(waiting, Change) else item
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
                self.dropped += 1
        self._wake()

    def close(self) -> None:
        """Wake the reader, which then gets ``Closed`` once the box is empty."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Change | Notice | None:
        """The next item, or ``None`` when nothing waits."""
        if self.dropped:
            dropped, self.dropped = self.dropped, 0
            return Notice(None, None, dropped=dropped)
        if not self._items:
            return None
        self.delivered += 1
        return self._items.popitem(last=False)[1]

    async def get(self) -> Change | Notice:
        """The next item, waiting for one; ``Closed`` once closed and empty."""
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self._closed:
                raise Closed
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
