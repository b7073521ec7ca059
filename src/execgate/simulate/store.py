"""A mutable, clock-driven store of simulated executions, shared by both simulators.

Active executions progress on their own: ``advance()`` (called by the simulators before every
request) starts each queued one whose ``starts_at`` has passed and completes each one whose
``finishes_at`` has passed, so a running execution in the demo really finishes, or can be
stopped before it does. It looks only at the executions that were active when the store got
them (``add``), so a request costs the same over a store of a hundred thousand.

``window`` hands a list request the executions whose time may fall in a dated window: from an
index by time once the store is large, so a list over a narrow window of a large store does not
look at every execution. Whatever is in ``spawners`` (``simulate/activity.py``) runs first and
may add executions: the store then keeps meeting new ones.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from execgate.simulate.data import ACTIVE_STATUSES, SimExecution, SimNodeRun, SimWorkflow

INDEX_FROM = 5_000
"""Stores at least this large keep the index by time; smaller ones are scanned whole (a scan
of 5,000 executions costs a few milliseconds)."""
_MS = timedelta(milliseconds=1)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SimStore:
    """Workflows and executions of one simulated instance.

    ``id_style`` decides how new ids look: ``numeric`` (n8n: "1", "2", ...) or ``uuid``
    (team-style). ``clock`` is injectable so tests control time.
    """

    def __init__(
        self,
        workflows: Iterable[SimWorkflow],
        executions: Iterable[SimExecution],
        *,
        id_style: str = "numeric",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.workflows: dict[str, SimWorkflow] = {w.id: w for w in workflows}
        self.executions: dict[str, SimExecution] = {e.id: e for e in executions}
        self._moving: dict[str, SimExecution] = {
            e.id: e for e in self.executions.values() if e.status in ACTIVE_STATUSES
        }
        """The executions ``advance`` may move: active when added, dropped once final."""
        self._moments: list[datetime] | None = None
        """With ``_rows``: the executions that are not moving, by time (start, else creation);
        built by the first ``window`` over a large store, kept up to date from then on."""
        self._rows: list[SimExecution] = []
        self.id_style = id_style
        self.clock = clock
        self.lock = threading.RLock()
        self._next_numeric = 1 + max(
            (int(e.id) for e in self.executions.values() if e.id.isdigit()), default=0
        )
        self._uuid_counter = 0
        self.spawners: list[Callable[[SimStore, datetime], None]] = []
        """Called by ``advance`` with the time, before anything progresses."""

    def now(self) -> datetime:
        return self.clock()

    def new_id(self) -> str:
        with self.lock:
            if self.id_style == "numeric":
                value = str(self._next_numeric)
                self._next_numeric += 1
                return value
            import uuid

            self._uuid_counter += 1
            return str(
                uuid.uuid5(uuid.NAMESPACE_URL, f"execgate-sim/{id(self)}/{self._uuid_counter}")
            )

    def advance(self) -> None:
        """Start every queued execution, and complete every active one, whose time has come."""
        now = self.now()
        with self.lock:
            for spawn in self.spawners:
                spawn(self, now)
            moving = self._moving
            for execution in list(moving.values()):
                if (
                    execution.status == "new"
                    and execution.starts_at is not None
                    and execution.starts_at <= now
                ):
                    execution.status = "running"
                    execution.started_at = execution.starts_at
                    execution.starts_at = None
                if (
                    execution.status in ACTIVE_STATUSES
                    and execution.finishes_at is not None
                    and execution.finishes_at <= now
                ):
                    finish(execution, execution.final_status or "success", execution.finishes_at)
                if execution.status not in ACTIVE_STATUSES:
                    del moving[execution.id]
                    self._index(execution)

    def add(self, execution: SimExecution) -> SimExecution:
        with self.lock:
            indexed = (
                self.executions.get(execution.id) is execution and execution.id not in self._moving
            )
            self.executions[execution.id] = execution
            if execution.status in ACTIVE_STATUSES:
                if indexed:
                    self._unindex(execution)  # ``advance`` indexes it again once final
                self._moving[execution.id] = execution
            else:
                self._moving.pop(execution.id, None)
                if not indexed:
                    self._index(execution)
            if execution.id.isdigit():
                self._next_numeric = max(self._next_numeric, int(execution.id) + 1)
            return execution

    def get(self, execution_id: str) -> SimExecution | None:
        with self.lock:
            execution = self.executions.get(execution_id)
            return None if execution is None or execution.deleted else execution

    def remove(self, execution_id: str) -> SimExecution | None:
        with self.lock:
            moving = self._moving.pop(execution_id, None)
            removed = self.executions.pop(execution_id, None)
            if removed is not None and moving is None:
                self._unindex(removed)
            return removed

    def _index(self, execution: SimExecution) -> None:
        if self._moments is None:
            return
        moment = execution.started_at or execution.created_at
        at = bisect_right(self._moments, moment)
        self._moments.insert(at, moment)
        self._rows.insert(at, execution)

    def _unindex(self, execution: SimExecution) -> None:
        if self._moments is None:
            return
        moment = execution.started_at or execution.created_at
        lo = bisect_left(self._moments, moment)
        hi = bisect_right(self._moments, moment)
        for at in range(lo, hi):
            if self._rows[at] is execution:
                del self._moments[at], self._rows[at]
                return

    def window(
        self, after: datetime | None, before: datetime | None, *, active: bool = False
    ) -> list[SimExecution]:
        """Every execution (deleted ones too) whose start time, or creation time when it has
        none, may lie in ``[after, before]`` (and, with ``active``, that may be active): more
        than that, never fewer; callers filter. Only ``add`` makes an execution active, and
        only ``advance`` (or an action on an active one) changes an execution's times: code
        that changes a finished execution's time or status in place keeps its store under
        ``INDEX_FROM``."""
        with self.lock:
            if len(self.executions) < INDEX_FROM:
                return list(self.executions.values())
            if active:
                return list(self._moving.values())
            if after is None and before is None:
                return list(self.executions.values())
            if self._moments is None:
                settled = sorted(
                    (e for e in self.executions.values() if e.id not in self._moving),
                    key=lambda e: e.started_at or e.created_at,
                )
                self._rows = settled
                self._moments = [e.started_at or e.created_at for e in settled]
            # a millisecond each side: callers compare times cut to the millisecond
            lo = 0 if after is None else bisect_left(self._moments, after - _MS)
            hi = len(self._moments) if before is None else bisect_right(self._moments, before + _MS)
            executions, moving = self.executions, self._moving
            found = [
                e for e in self._rows[lo:hi] if executions.get(e.id) is e and e.id not in moving
            ]
            found.extend(moving.values())
            return found

    def visible(self) -> list[SimExecution]:
        with self.lock:
            return [e for e in self.executions.values() if not e.deleted]


def finish(execution: SimExecution, status: str, at: datetime) -> None:
    """Move an active execution to a final status at ``at`` (its runs end no later than that).

    One that succeeds makes the runs it had still to make (``pending``), ending just before
    ``at`` (or right after its last run, when that is later); one stopped otherwise drops them.
    """
    pending, execution.pending = execution.pending, []
    if status == "success" and pending:
        _place(execution, pending, at)
        at = max(at, pending[-1].started_at + timedelta(milliseconds=pending[-1].duration_ms + 1))
        execution.runs.extend(pending)
        execution.output = execution.runs[-1].output
        if execution.input is None:
            execution.input = execution.runs[0].output
    execution.status = status
    execution.finished_at = at
    execution.finishes_at = None
    execution.final_status = None
    execution.wait_till = None
    if execution.started_at is None:
        execution.started_at = execution.runs[0].started_at if execution.runs else at
    for run in execution.runs:
        if run.status in ("running", "waiting"):
            run.status = "success" if status == "success" else "error"
            if status != "success" and run.error is None:
                run.error = execution.error_message or "execution stopped"


def _place(execution: SimExecution, pending: list[SimNodeRun], at: datetime) -> None:
    """Shift ``pending`` (keeping durations and gaps) to end 1 ms before ``at``, but never to
    start before the execution's runs so far have ended."""
    end = pending[-1].started_at + timedelta(milliseconds=pending[-1].duration_ms)
    shift = at - timedelta(milliseconds=1) - end
    done = [r.started_at + timedelta(milliseconds=r.duration_ms) for r in execution.runs]
    earliest = max(done) + timedelta(milliseconds=1) if done else execution.started_at
    if earliest is not None and pending[0].started_at + shift < earliest:
        shift = earliest - pending[0].started_at
    for run in pending:
        run.started_at += shift
