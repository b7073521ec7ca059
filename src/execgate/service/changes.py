"""What changed on one instance between two live polls: the diff behind every live event.

``Tracker`` remembers what the last poll saw of an instance — its newest executions (the
*window*, in the instance's own order) and its active ones — and turns the next poll into
``Change``s:

- ``CREATED``: an execution it had not seen (whatever its status: one that started and failed
  within one interval is created with its final status), above the oldest execution the last
  window still shares with this one (below it, an unknown one is an older execution coming into
  view as the window moves down, and is only remembered);
- ``STATUS_CHANGED``: a known execution whose status moved to another active one;
- ``FINISHED``: a known execution whose status became a final one;
- ``DELETED``: a known active execution that a direct read no longer finds, or a finished one
  missing from inside the window while an older finished one is still there (finished
  executions keep their place in either order, so only a deletion makes one vanish there).

A finished execution that slides out of the window's bottom is simply forgotten; an active one
that leaves the active lists without showing in the window (a long run ending far down) is
named by ``vanished`` for the poller to read directly. A status never goes back: a read that
shows a finished execution as active again (two lists read a moment apart) changes nothing.
The first poll is the baseline and yields no change.

``Tracker.state`` is what it remembers, as a value (``TrackerState``): replicas that share an
instance's poll pass it on with each poll, so the one that takes the poll over diffs from
where the last one stopped rather than from a new baseline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from execgate.domain.keys import ExecutionKey
from execgate.domain.live import Change, ChangeType, TrackerState
from execgate.domain.models import Execution, ExecutionStatus

_RANK = {ExecutionStatus.PENDING: 0, ExecutionStatus.RUNNING: 1, ExecutionStatus.WAITING: 1}


def rank(status: ExecutionStatus) -> int:
    """How far along a status is: pending, then running or waiting, then final (or unknown)."""
    return _RANK.get(status, 2)


def newest(first: Execution | None, second: Execution) -> Execution:
    """The later of two reads of one execution: the one further along, ``second`` on a tie."""
    if first is None or rank(second.status) >= rank(first.status):
        return second
    return first


def compare(before: Execution | None, now: Execution, at: datetime) -> Change | None:
    """The change from ``before`` (``None``: never seen) to ``now``, if there is one."""
    if before is None:
        return Change(ChangeType.CREATED, now, None, at)
    if now.status is before.status or rank(now.status) < rank(before.status):
        return None
    kind = ChangeType.FINISHED if now.status.is_finished else ChangeType.STATUS_CHANGED
    return Change(kind, now, before.status, at)


class Tracker:
    """One instance's last poll, and the changes since (see the module docstring)."""

    def __init__(self) -> None:
        self.known: dict[ExecutionKey, Execution] = {}
        self.window: tuple[ExecutionKey, ...] = ()
        self.started = False

    def state(self) -> TrackerState | None:
        """What it remembers (``None`` before the first poll)."""
        if not self.started:
            return None
        return TrackerState(tuple(self.known.values()), self.window)

    def restore(self, state: TrackerState) -> None:
        """Remember ``state`` in place of the last poll (another replica's, passed on)."""
        self.known = {execution.key: execution for execution in state.known}
        self.window = state.window
        self.started = True

    def vanished(self, recent: Iterable[Execution], active: Iterable[Execution]) -> list[str]:
        """Native ids of known active executions that this poll did not list: read them."""
        listed = {e.key for e in recent} | {e.key for e in active}
        return [
            key.native_id
            for key, execution in self.known.items()
            if execution.status.is_active and key not in listed
        ]

    def undated(self, recent: Iterable[Execution], active: Iterable[Execution]) -> list[str]:
        """Native ids of listed executions without a creation time that were never seen with
        one (n8n lists queued executions without it): read them once."""
        missing: dict[str, None] = {}
        for execution in (*recent, *active):
            known = self.known.get(execution.key)
            if execution.sort_time is None and (known is None or known.created_at is None):
                missing[execution.native_id] = None
        return list(missing)

    def update(
        self,
        recent: Sequence[Execution],
        active: Sequence[Execution],
        at: datetime,
        *,
        read: Mapping[ExecutionKey, Execution | None] | None = None,
        older: Sequence[Execution] = (),
    ) -> list[Change]:
        """The changes this poll shows, and the poll remembered in place of the last one.

        ``read`` holds direct reads (``None``: not found) of what ``vanished`` named (and
        creation times for ``undated``); ``older`` holds executions listed below the window
        (read when the whole window was new), reported but not remembered.
        """
        read = read or {}
        seen: dict[ExecutionKey, Execution] = {}
        for execution in (*recent, *older, *active):
            seen[execution.key] = newest(seen.get(execution.key), execution)
        for key, found in read.items():
            if found is not None and (key in seen or key in self.known):
                seen[key] = newest(seen.get(key), found)
        for key, execution in seen.items():
            seen[key] = self._dated(execution, read)
        quiet = self._sliding_in((*recent, *older))
        changes = self._changes(seen, recent, read, at, quiet) if self.started else []
        window = tuple(e.key for e in recent)
        kept = {k for k in window} | {k for k, e in seen.items() if e.status.is_active}
        remembered = {key: seen[key] for key in kept}
        for key in kept:
            before = self.known.get(key)
            if before is not None and rank(before.status) > rank(seen[key].status):
                remembered[key] = before  # never go back
        self.known = remembered
        self.window = window
        self.started = True
        return changes

    def apply(self, found: Mapping[ExecutionKey, Execution | None], at: datetime) -> list[Change]:
        """Changes that ``found`` (executions just read, ``None``: deleted) makes to what the
        last poll saw, remembered at once (a mutation through execgate, between two polls)."""
        if not self.started:
            return []
        changes: list[Change] = []
        for key, execution in found.items():
            before = self.known.get(key)
            if execution is None:
                if before is not None:
                    del self.known[key]
                    changes.append(Change(ChangeType.DELETED, before, before.status, at))
                continue
            execution = self._dated(execution, found)
            change = compare(before, execution, at)
            if change is not None:
                changes.append(change)
                self.known[key] = execution
        return changes

    def _dated(
        self, execution: Execution, read: Mapping[ExecutionKey, Execution | None]
    ) -> Execution:
        if execution.created_at is not None:
            return execution
        known = self.known.get(execution.key)
        source = known if known is not None and known.created_at is not None else None
        source = source or read.get(execution.key)
        if source is None or source.created_at is None:
            return execution
        return replace(execution, created_at=source.created_at)

    def _changes(
        self,
        seen: Mapping[ExecutionKey, Execution],
        recent: Sequence[Execution],
        read: Mapping[ExecutionKey, Execution | None],
        at: datetime,
        quiet: set[ExecutionKey],
    ) -> list[Change]:
        changes: list[Change] = []
        for key, execution in seen.items():
            if key in quiet:
                continue
            change = compare(self.known.get(key), execution, at)
            if change is not None:
                changes.append(change)
        gone = {key for key, found in read.items() if found is None and key in self.known}
        gone |= self._deleted_inside_window({e.key for e in recent}, seen)
        for key in gone:
            if key not in seen:
                before = self.known[key]
                changes.append(Change(ChangeType.DELETED, before, before.status, at))
        return changes

    def _sliding_in(self, listing: Sequence[Execution]) -> set[ExecutionKey]:
        """Unknown executions listed below the last one the previous window held: older ones
        coming into view (the window moved down: one of it started running, and n8n's list
        hides running executions, or one was deleted), not new ones."""
        previous = set(self.window)
        deepest = -1
        for index, execution in enumerate(listing):
            if execution.key in previous:
                deepest = index
        if deepest < 0:
            return set()
        return {e.key for e in listing[deepest + 1 :] if e.key not in self.known}

    def _deleted_inside_window(
        self, listed: set[ExecutionKey], seen: Mapping[ExecutionKey, Execution]
    ) -> set[ExecutionKey]:
        """Finished executions of the last window that are missing above a finished one of it
        that is still listed: only a deletion removes them from there."""
        deepest = -1
        for index, key in enumerate(self.window):
            before = self.known.get(key)
            if key in listed and before is not None and before.status.is_finished:
                deepest = index
        missing = set()
        for key in self.window[:deepest]:
            before = self.known.get(key)
            if before is not None and before.status.is_finished and key not in seen:
                missing.add(key)
        return missing
