"""Placing team-style executions that have not started, by their creation time.

A team-style list item carries ``startedAt`` but no ``createdAt``, so an execution that has not
started (pending, or cancelled before it started) comes with no time at all: only its details
say when it was created. The feed orders it by that time, so the adapter reads it once for its
``createdAt`` (``CreationTimes`` remembers it by id: it never changes) and merges it among the
executions listed with a start time.

``place`` works out one page of the adapter's stream from what its lists showed (``Listed``)
and what the position owes (``Bound.owed``: executions that have not started which the walk
knows of and has not returned, which a list bounded by ``to`` may leave out). It reads at most
``budget`` details a page: first the creation times it does not know, then, for owed
executions the lists did not show and that would land on the page, their state now (cancelled,
started or deleted since). What it could not read stays owed and is placed on a later page
(late, above the items around it, when it belonged to this one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from execgate.backends.team_wire import Bound
from execgate.domain.errors import BackendError
from execgate.domain.keys import as_number
from execgate.domain.models import Execution, ExecutionQuery, ExecutionStatus, Unreadable

UNDATED_READS = 10
"""Detail reads a page makes at most for executions that have not started (and at most one
more than the page holds): they are few, and each creation time is read once."""

REMEMBERED = 10_000
"""Creation times remembered per instance."""

State = Execution | BackendError | None
"""What a detail read found: the execution now, a failure, or nothing (deleted)."""

Read = Callable[[Sequence[str]], Awaitable[Mapping[str, State]]]


class CreationTimes:
    """When executions that had not started were created, by id; least recently used out."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self.size = size
        self._times: OrderedDict[str, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def get(self, native_id: str) -> datetime | None:
        moment = self._times.get(native_id)
        if moment is not None:
            self._times.move_to_end(native_id)
        return moment

    def put(self, native_id: str, moment: datetime) -> None:
        self._times[native_id] = moment
        self._times.move_to_end(native_id)
        while len(self._times) > self.size:
            self._times.popitem(last=False)


def stream_key(moment: datetime, native_id: str) -> tuple[Any, ...]:
    """Sorts descending into one instance's feed order: newest first, then the higher id
    (numerically where ids are numbers, which come before the others)."""
    number = as_number(native_id)
    return (moment, 1, number) if number is not None else (moment, 0, native_id)


@dataclass(frozen=True, slots=True)
class Listed:
    """What the lists of one page showed."""

    dated: list[Execution]
    """Listed with a start time: beyond the bound and matching the query."""
    undated: dict[str, Execution]
    """Listed without a start time and matching the query's status and workflow, by id."""
    exhausted: bool
    """Whether the list of executions with a start time ended (else ``dated`` holds more
    than the page: whatever the lists did not reach sorts below all of it)."""


@dataclass(frozen=True, slots=True)
class Placed:
    items: tuple[Execution, ...]
    owed: dict[str, datetime | None]
    """What is owed once every item is returned (undated items left out of a prefix are
    owed too: ``TeamBackend.position_after`` adds them)."""
    more: bool
    reads: int
    unreadable: tuple[Unreadable, ...]


@dataclass
class _Placement:
    instance: str
    bound: Bound | None
    query: ExecutionQuery
    read: Read
    budget: int
    candidates: dict[str, Execution] = field(default_factory=dict)
    unverified: dict[str, datetime] = field(default_factory=dict)
    """Owed executions the lists did not show: placed by their known creation time, read
    before they are returned."""
    carried: dict[str, datetime | None] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    reads: int = 0

    def offer(self, execution: Execution) -> None:
        if self.query.matches(execution) and (
            self.bound is None or not self.bound.passed(execution)
        ):
            self.candidates[execution.native_id] = execution

    def absorb(self, native_id: str, state: State, known: datetime | None) -> None:
        """Take what a read found of ``native_id`` (whose creation time may be ``known``)."""
        if state is None:
            return  # deleted since it was listed
        if isinstance(state, BackendError):
            self.unreadable.append(Unreadable(self.instance, native_id, state.message))
            self.carried[native_id] = known
            return
        if state.started_at is None and state.created_at is None:
            if known is None:
                reason = "it has neither 'startedAt' nor 'createdAt'"
                self.unreadable.append(Unreadable(self.instance, native_id, reason))
                return
            state = replace(state, created_at=known)
        self.offer(state)

    async def resolve(self, native_ids: list[str]) -> None:
        """Read the creation times of ``native_ids``, within the budget; carry the rest."""
        room = max(0, self.budget - self.reads)
        batch, rest = native_ids[:room], native_ids[room:]
        self.carried.update(dict.fromkeys(rest))
        if batch:
            found = await self.read(batch)
            self.reads += len(batch)
            for native_id in batch:
                self.absorb(native_id, found.get(native_id), None)

    def order(self) -> list[str]:
        times = {i: e.sort_time for i, e in self.candidates.items()}
        times.update(self.unverified)
        keys = [(stream_key(m, i), i) for i, m in times.items() if m is not None]
        return [i for _, i in sorted(keys, reverse=True)]

    async def settle(self, limit: int) -> list[str]:
        """The ids of the page, once every owed execution on it has been read again."""
        while True:
            top = self.order()[:limit]
            need = [i for i in top if i in self.unverified]
            if not need:
                return top
            room = self.budget - self.reads
            if room <= 0:
                for native_id in need:
                    self.carried[native_id] = self.unverified.pop(native_id)
                continue
            batch = need[:room]
            found = await self.read(batch)
            self.reads += len(batch)
            for native_id in batch:
                self.absorb(native_id, found.get(native_id), self.unverified.pop(native_id))


async def place(
    listed: Listed,
    bound: Bound | None,
    query: ExecutionQuery,
    limit: int,
    *,
    known: Callable[[str], datetime | None],
    read: Read,
    instance: str,
) -> Placed:
    """One page of at most ``limit`` items in feed order, from ``listed`` and what ``bound``
    owes; ``known`` answers creation times already read, ``read`` reads details."""
    owed = dict(bound.owed) if bound is not None else {}
    placement = _Placement(instance, bound, query, read, min(UNDATED_READS, limit + 1))
    for execution in listed.dated:
        placement.candidates[execution.native_id] = execution
    shown = set(listed.undated) | set(placement.candidates)
    overdue = [i for i, m in owed.items() if m is None and i not in shown and known(i) is None]
    unknown: list[Execution] = []
    for native_id, execution in listed.undated.items():
        moment = execution.created_at or owed.get(native_id) or known(native_id)
        if moment is None:
            unknown.append(execution)
        else:
            placement.offer(replace(execution, created_at=moment))
    # pending ones first: they were created lately, so they are the likeliest on this page
    unknown.sort(key=lambda e: e.status is not ExecutionStatus.PENDING)
    for native_id, moment in owed.items():
        moment = moment or known(native_id)
        if native_id not in shown and moment is not None:
            placement.unverified[native_id] = moment
    await placement.resolve(overdue + [e.native_id for e in unknown])
    page = await placement.settle(limit)
    items = tuple(placement.candidates[i] for i in page)
    taken = set(page)
    ahead: dict[str, datetime | None] = dict(placement.carried)
    for native_id, execution in placement.candidates.items():
        if native_id not in taken and execution.started_at is None:
            ahead[native_id] = execution.created_at
    ahead.update(placement.unverified)
    more = not listed.exhausted or len(placement.candidates) > len(items) or bool(ahead)
    return Placed(items, ahead, more, placement.reads, tuple(placement.unreadable))
