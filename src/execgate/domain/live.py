"""The values of live events: what changed on an instance between two polls (``Change``),
what subscribers must hear besides (``Notice``), what a poll remembers (``TrackerState``) and
what one replica tells the others (``Broadcast``).

``service/changes.py`` makes them from polls, ``service/live.py`` hands them to subscribers,
and the replicas' relay (the ``Relay`` port, ``shared/live.py`` over Redis) carries them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from execgate.domain.errors import BackendError
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Execution, ExecutionStatus


class ChangeType(enum.Enum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    FINISHED = "FINISHED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True)
class Change:
    """One change to one execution; ``execution`` is its new state (for ``DELETED``, the last
    state seen), ``previous`` the status before (``None`` for ``CREATED``)."""

    type: ChangeType
    execution: Execution
    previous: ExecutionStatus | None
    at: datetime

    @property
    def key(self) -> ExecutionKey:
        return self.execution.key

    def then(self, later: Change) -> Change:
        """This change and a ``later`` one of the same execution as one: the newest state,
        seen from the status before the first (what a subscriber that missed the middle
        knew last)."""
        if later.type is ChangeType.DELETED:
            return later
        kind = ChangeType.CREATED if self.type is ChangeType.CREATED else later.type
        previous = None if kind is ChangeType.CREATED else self.previous
        return Change(kind, later.execution, previous, later.at)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a subscriber must hear that is not a change: an instance that stopped
    answering the poll (``error``, and when it is tried again), or changes it missed."""

    instance: str | None
    error: BackendError | None
    retry_in: float | None = None
    dropped: int = 0
    """Changes dropped because the subscriber read slower than they came."""


@dataclass(frozen=True, slots=True)
class TrackerState:
    """What a started ``Tracker`` remembers: the executions it knows and its window."""

    known: tuple[Execution, ...]
    window: tuple[ExecutionKey, ...]


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
