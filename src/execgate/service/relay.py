"""The port through which replicas share each instance's live poll (``shared/live.py`` over
Redis implements it; ``LiveHub`` uses it when ``[shared] redis_url`` is set).

A ``Relay`` gives the poll of an instance to one replica at a time — a lease that its holder
renews every poll interval and that expires when the holder is gone — and carries each
``Broadcast`` of that replica to the others' subscribers. It never raises: a lease it cannot
ask about is ``None`` (each replica then polls on its own), a broadcast it cannot send is
dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from execgate.service.changes import Change, Notice, TrackerState


@dataclass(frozen=True, slots=True)
class Broadcast:
    """What one replica tells the others about one instance: the changes and notices of one
    poll with the poller's ``state`` after it (so a replica that takes the poll over diffs
    from there), or — ``acted`` — what a mutation through it changed, which every replica's
    tracker takes in as known."""

    instance: str
    items: tuple[Change | Notice, ...]
    state: TrackerState | None = None
    acted: bool = False


Receive = Callable[[Broadcast], None]


class Relay(Protocol):
    async def claim(self, instance: str, ttl: float) -> bool | None:
        """Take or renew the lease of ``instance``'s poll for ``ttl`` seconds: ``True`` when
        this replica holds it now, ``False`` when another does, ``None`` when it cannot
        say (the shared store does not answer)."""
        ...

    async def release(self, instance: str) -> None:
        """Give the lease up, if this replica holds it."""
        ...

    async def send(self, broadcast: Broadcast) -> bool:
        """Pass ``broadcast`` on to the other replicas (``False``: it could not)."""
        ...

    async def follow(self, instance: str, receive: Receive, ready: Callable[[], None]) -> None:
        """Until cancelled: hand every broadcast of another replica about ``instance`` to
        ``receive``; call ``ready`` each time it starts listening (again)."""
        ...
