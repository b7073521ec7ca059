"""Health statistics as plain data: what a statistics request asks, and what it answers.

A request names a window of executions (the feed's filter, always bounded in time) and the
dimensions to group by; the answer holds the figures over the whole window and one bucket per
group. Every figure is exact over the executions the window holds: counts per status, the
success rate (successes over finished executions), duration percentiles by the nearest-rank
method over every finished execution with a duration, the executions still active, and the
first and last start times.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from execgate.domain.keys import WorkflowKey
from execgate.domain.models import ExecutionMode, ExecutionStatus


class StatsDimension(enum.Enum):
    """What buckets are grouped by."""

    INSTANCE = "INSTANCE"
    WORKFLOW = "WORKFLOW"
    STATUS = "STATUS"
    MODE = "MODE"
    DAY = "DAY"
    """The UTC day an execution started (was created, for one that has not started)."""
    HOUR = "HOUR"
    """The UTC hour an execution started (was created, for one that has not started)."""
    ERROR = "ERROR"
    """The execution's error message, normalised (ids, numbers, addresses replaced)."""


PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True, slots=True)
class Durations:
    """Durations in milliseconds over finished executions that report one (``None``: none)."""

    count: int = 0
    p50: int | None = None
    p90: int | None = None
    p95: int | None = None
    p99: int | None = None
    max: int | None = None
    mean: float | None = None


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one set of executions (the whole window, or one bucket)."""

    count: int
    by_status: dict[ExecutionStatus, int]
    """Every status, with 0 for those absent."""
    durations: Durations
    first_started_at: datetime | None
    last_started_at: datetime | None

    @property
    def finished(self) -> int:
        return sum(n for status, n in self.by_status.items() if status.is_finished)

    @property
    def running(self) -> int:
        """Executions still active (pending, running or waiting)."""
        return sum(n for status, n in self.by_status.items() if status.is_active)

    @property
    def success_rate(self) -> float | None:
        """Successes over finished executions, from 0 to 1; ``None`` when none finished."""
        finished = self.finished
        return None if not finished else self.by_status[ExecutionStatus.SUCCESS] / finished


@dataclass(frozen=True, slots=True)
class BucketKey:
    """The values one bucket groups on; only the grouped dimensions are set."""

    instance: str | None = None
    workflow: WorkflowKey | None = None
    workflow_name: str | None = None
    """The workflow's name when the instance's lists carry it (team-style)."""
    status: ExecutionStatus | None = None
    mode: ExecutionMode | None = None
    day: datetime | None = None
    hour: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    key: BucketKey
    figures: Figures


@dataclass(frozen=True, slots=True)
class Window:
    """The executions a statistics request covers: sort time within ``[after, before]``."""

    after: datetime
    before: datetime | None


@dataclass(frozen=True, slots=True)
class StatsAnswer:
    window: Window
    group_by: tuple[StatsDimension, ...]
    overall: Figures
    buckets: tuple[Bucket, ...]
    bucket_count: int
    """Buckets found; more than ``len(buckets)`` when the rest were left out by the limit."""
    scanned: int
    """Executions read from the backends for this answer (a repeat reads only what changed)."""
    skipped: tuple[tuple[str, str, str], ...] = field(default=())
    """Instances left out because they failed: (instance, code, message)."""

    @property
    def complete(self) -> bool:
        return not self.skipped
