"""What statistics remember of one instance: its lean executions, in columns.

A ``Segment`` holds every execution of one instance that matches one base query (workflow and
status filters pushed down to the backend) and sorts at or after ``lo``: only the figures a
statistic needs (times, status, mode, workflow, duration, error), one typed array per column,
so 100,000 executions take a few megabytes and ``numpy`` copies a column in one memcpy
(``columns``). Rows are keyed by native id; a removed row is marked dead and the arrays
are compacted once half of them are.

Workflows and error messages are stored as codes into per-segment tables. A row whose error
message the list did not carry (n8n lists without data) has ``UNKNOWN_ERROR`` until it is read.
"""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from execgate.domain.models import Execution, ExecutionMode, ExecutionQuery, ExecutionStatus

STATUSES: tuple[ExecutionStatus, ...] = tuple(ExecutionStatus)
MODES: tuple[ExecutionMode, ...] = tuple(ExecutionMode)
STATUS_CODE = {status: code for code, status in enumerate(STATUSES)}
MODE_CODE = {mode: code for code, mode in enumerate(MODES)}
ACTIVE_CODES = frozenset(STATUS_CODE[s] for s in STATUSES if s.is_active)
FINISHED_CODES = frozenset(STATUS_CODE[s] for s in STATUSES if s.is_finished)

NO_ERROR = -1
UNKNOWN_ERROR = -2
ERROR_STATUSES = frozenset(
    {ExecutionStatus.FAILED, ExecutionStatus.CRASHED, ExecutionStatus.CANCELLED}
)
"""Statuses whose error message is read when a list leaves it out."""

NAN = math.nan


def timestamp(moment: datetime | None) -> float:
    return NAN if moment is None else moment.timestamp()


def moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass(frozen=True, slots=True)
class Columns:
    """A segment's rows as numpy arrays (``alive`` marks the rows still held)."""

    sort: npt.NDArray[np.float64]
    started: npt.NDArray[np.float64]
    duration: npt.NDArray[np.float64]
    status: npt.NDArray[np.int8]
    mode: npt.NDArray[np.int8]
    workflow: npt.NDArray[np.int32]
    error: npt.NDArray[np.int32]
    alive: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A segment as it was at one moment: what aggregation reads while others refresh it."""

    instance: str
    columns: Columns
    workflows: tuple[str, ...]
    errors: tuple[str, ...]
    names: tuple[str | None, ...] = ()
    """Each workflow's name, where the lists carried one."""


class Segment:
    """The lean executions of ``instance`` matching ``base`` whose sort time is ``lo`` or later.

    ``lock`` serialises its refreshes; ``version`` counts them, so a request that waited for
    another's refresh can use it as is.
    """

    def __init__(
        self,
        instance: str,
        base: ExecutionQuery,
        lo: datetime,
        *,
        errors_in_lists: bool,
        normalise: Callable[[str], str],
    ) -> None:
        self.instance = instance
        self.base = base
        self.errors_in_lists = errors_in_lists
        self.normalise = normalise
        self.lock = asyncio.Lock()
        self.version = 0
        self.used_at = 0.0
        self.clear(lo)

    def clear(self, lo: datetime) -> None:
        """Forget every row, to be read in full from ``lo`` on."""
        self.lo = lo
        self.ready = False
        """Whether it holds everything from ``lo`` on (a failed or new one is read in full)."""
        self.scanned_at = 0.0
        """When it was last read in full (the clock of its cache)."""
        self.uncounted = 0
        """Executions other than cancelled ones that the instance's total counts in this
        segment's range but its lists give no start time (never started: a team-style server
        may date them by creation), as found after the last full read; the deletion check
        allows for them."""
        self.counted: tuple[float, float] | None = None
        """The range (``lo``, floor) of the last deletion check, as timestamps."""
        self.uncounted_cancelled = 0
        """The same for cancelled executions (one cancelled before it started has no start
        time), as found by the last check: their number grows whenever a queued execution is
        cancelled, so each check counts them again."""
        self.ids: list[str] = []
        self.index: dict[str, int] = {}
        self._sort = array("d")
        self._started = array("d")
        self._duration = array("d")
        self._status = array("b")
        self._mode = array("b")
        self._workflow = array("i")
        self._error = array("i")
        self._alive = array("b")
        self.dead = 0
        self.workflows: list[str] = []
        self.names: list[str | None] = []
        self._workflow_codes: dict[str, int] = {}
        self.errors: list[str] = []
        self._error_codes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids) - self.dead

    # --- writing ------------------------------------------------------------------------------

    def _code(self, table: list[str], codes: dict[str, int], value: str) -> int:
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(table)
            table.append(value)
        return code

    def _workflow_code(self, workflow_id: str, name: str | None) -> int:
        code = self._code(self.workflows, self._workflow_codes, workflow_id)
        if code == len(self.names):
            self.names.append(name)
        elif name is not None:
            self.names[code] = name
        return code

    def error_code(self, execution: Execution, *, with_data: bool) -> int:
        message = execution.error_message
        if message:
            return self._code(self.errors, self._error_codes, self.normalise(message))
        if execution.status in ERROR_STATUSES and not (with_data or self.errors_in_lists):
            return UNKNOWN_ERROR
        return NO_ERROR

    def put(self, execution: Execution, *, with_data: bool = False) -> None:
        """Add or replace one execution (a known error message survives a lean re-read)."""
        native_id = execution.native_id
        duration = execution.duration_ms
        values = (
            timestamp(execution.sort_time),
            timestamp(execution.started_at),
            NAN if duration is None or not execution.status.is_finished else float(duration),
            STATUS_CODE[execution.status],
            MODE_CODE[execution.mode],
            self._workflow_code(execution.workflow_id, execution.workflow_name),
            self.error_code(execution, with_data=with_data),
        )
        row = self.index.get(native_id)
        if row is None:
            self.index[native_id] = len(self.ids)
            self.ids.append(native_id)
            for column, value in zip(self._columns(), values, strict=True):
                column.append(value)  # type: ignore[arg-type]
            self._alive.append(1)
            return
        if values[6] == UNKNOWN_ERROR and self._status[row] == values[3]:
            values = (*values[:6], self._error[row])
        for column, value in zip(self._columns(), values, strict=True):
            column[row] = value  # type: ignore[call-overload]

    def set_error(self, native_id: str, execution: Execution) -> None:
        row = self.index.get(native_id)
        if row is not None:
            self._error[row] = self.error_code(execution, with_data=True)

    def remove(self, native_id: str) -> None:
        row = self.index.pop(native_id, None)
        if row is None:
            return
        self._alive[row] = 0
        self.dead += 1
        if self.dead > 1024 and self.dead * 2 > len(self.ids):
            self._compact()

    def _columns(self) -> tuple[array[float] | array[int], ...]:
        return (
            self._sort,
            self._started,
            self._duration,
            self._status,
            self._mode,
            self._workflow,
            self._error,
        )

    def _compact(self) -> None:
        keep = [row for row, alive in enumerate(self._alive) if alive]
        self.ids = [self.ids[row] for row in keep]
        self.index = {native_id: row for row, native_id in enumerate(self.ids)}
        self._sort = array("d", [self._sort[row] for row in keep])
        self._started = array("d", [self._started[row] for row in keep])
        self._duration = array("d", [self._duration[row] for row in keep])
        self._status = array("b", [self._status[row] for row in keep])
        self._mode = array("b", [self._mode[row] for row in keep])
        self._workflow = array("i", [self._workflow[row] for row in keep])
        self._error = array("i", [self._error[row] for row in keep])
        self._alive = array("b", [1] * len(keep))
        self.dead = 0

    # --- reading ------------------------------------------------------------------------------

    def _where(self, mask: npt.NDArray[np.bool_]) -> list[int]:
        return [int(row) for row in np.flatnonzero(mask)]

    def newest(self) -> float:
        """The latest sort time held (``-inf`` when empty)."""
        c = self.columns()
        times = c.sort[c.alive & ~np.isnan(c.sort)]
        return float(times.max()) if times.size else -math.inf

    def ids_from(self, floor: float) -> set[str]:
        """Live rows sorting at ``floor`` or later."""
        c = self.columns()
        return {self.ids[row] for row in self._where(c.alive & (c.sort >= floor))}

    def active_before(self, floor: float) -> list[str]:
        """Live rows still active that sort before ``floor``."""
        c = self.columns()
        active = np.isin(c.status, list(ACTIVE_CODES))
        return [self.ids[row] for row in self._where(c.alive & active & (c.sort < floor))]

    def without_error(self, after: float, before: float) -> list[tuple[str, float]]:
        """Live rows in ``[after, before]`` whose error message is still to be read."""
        c = self.columns()
        mask = c.alive & (c.error == UNKNOWN_ERROR) & (c.sort >= after) & (c.sort <= before)
        return [(self.ids[row], float(c.sort[row])) for row in self._where(mask)]

    def count_between(
        self, after: float, before: float, status: ExecutionStatus | None = None
    ) -> int:
        """Live rows in ``[after, before]`` (of ``status`` only, if given)."""
        c = self.columns()
        mask = c.alive & (c.sort >= after) & (c.sort <= before)
        if status is not None:
            mask &= c.status == STATUS_CODE[status]
        return int(np.count_nonzero(mask))

    def columns(self) -> Columns:
        """The columns as numpy arrays of their own (a copy is a memcpy of a few megabytes;
        a view would keep the storage from growing while it lives)."""
        return Columns(
            sort=np.array(self._sort, dtype=np.float64),
            started=np.array(self._started, dtype=np.float64),
            duration=np.array(self._duration, dtype=np.float64),
            status=np.array(self._status, dtype=np.int8),
            mode=np.array(self._mode, dtype=np.int8),
            workflow=np.array(self._workflow, dtype=np.int32),
            error=np.array(self._error, dtype=np.int32),
            alive=np.array(self._alive, dtype=np.int8).astype(bool),
        )

    def snapshot(self) -> Snapshot:
        return Snapshot(
            self.instance,
            self.columns(),
            tuple(self.workflows),
            tuple(self.errors),
            tuple(self.names),
        )
