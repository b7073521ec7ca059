"""Plain data the rest of execgate speaks: instances, workflows, executions, node executions.

Everything here is a frozen dataclass or an enum; no framework is imported. Adapters build these
from each backend's wire format; the API layer renders them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey

JSONValue = Any
"""Arbitrary JSON-shaped data as a backend returned it (dicts, lists, scalars)."""


class BackendKind(enum.Enum):
    TEAM = "team"
    N8N = "n8n"


class ExecutionStatus(enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    CRASHED = "CRASHED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_active(self) -> bool:
        """Still changing: its state may differ on the next read."""
        return self in _ACTIVE

    @property
    def is_finished(self) -> bool:
        return not self.is_active and self is not ExecutionStatus.UNKNOWN


_ACTIVE = frozenset({ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING})


class ExecutionMode(enum.Enum):
    """How an execution was started, normalised across backend kinds (the raw value is kept)."""

    WEBHOOK = "WEBHOOK"
    MANUAL = "MANUAL"
    SCHEDULE = "SCHEDULE"
    TRIGGER = "TRIGGER"
    API = "API"
    EVENT = "EVENT"
    RETRY = "RETRY"
    CLI = "CLI"
    INTEGRATED = "INTEGRATED"
    INTERNAL = "INTERNAL"
    ERROR_WORKFLOW = "ERROR_WORKFLOW"
    EVALUATION = "EVALUATION"
    CHAT = "CHAT"
    UNKNOWN = "UNKNOWN"


class Capability(enum.Enum):
    """What an instance's API can do, so clients can offer only what will work."""

    CANCEL = "CANCEL"
    RETRY = "RETRY"
    DELETE = "DELETE"
    STATUS_FILTER = "STATUS_FILTER"
    WORKFLOW_FILTER = "WORKFLOW_FILTER"
    DATE_FILTER = "DATE_FILTER"
    TOTAL_COUNT = "TOTAL_COUNT"
    BATCH_NODE_DATA = "BATCH_NODE_DATA"


@dataclass(frozen=True, slots=True)
class Instance:
    name: str
    kind: BackendKind


@dataclass(frozen=True, slots=True)
class Workflow:
    key: WorkflowKey
    name: str | None


@dataclass(frozen=True, slots=True)
class NodeExecution:
    """One run of one node inside an execution, in execution order (``position``)."""

    key: NodeExecutionKey
    node_name: str
    node_type: str | None
    status: ExecutionStatus
    status_raw: str | None
    position: int
    run_index: int = 0
    retry_count: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    input_data: JSONValue = None
    output_data: JSONValue = None
    error_message: str | None = None

    @property
    def execution_key(self) -> ExecutionKey:
        return self.key.execution


@dataclass(frozen=True, slots=True)
class Execution:
    """An execution as one backend reported it, normalised.

    ``node_executions`` is ``None`` when the read that produced this object did not include
    per-node data (a list item); an empty tuple means the execution has no node runs.
    """

    key: ExecutionKey
    workflow_id: str
    status: ExecutionStatus
    status_raw: str
    mode: ExecutionMode
    mode_raw: str | None
    finished: bool
    workflow_name: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_ms: int | None = None
    error_message: str | None = None
    input_data: JSONValue = None
    output_data: JSONValue = None
    retry_of: str | None = None
    retry_success_id: str | None = None
    node_executions: tuple[NodeExecution, ...] | None = None

    @property
    def instance(self) -> str:
        return self.key.instance

    @property
    def native_id(self) -> str:
        return self.key.native_id

    @property
    def workflow_key(self) -> WorkflowKey:
        return WorkflowKey(self.key.instance, self.workflow_id)

    @property
    def sort_time(self) -> datetime | None:
        """The time the feed orders by: start, or creation for one that has not started."""
        return self.started_at or self.created_at


@dataclass(frozen=True, slots=True)
class ExecutionQuery:
    """Filters for one backend's list, already narrowed to that backend.

    ``statuses`` empty means every status. Adapters push down what their API supports and
    apply the rest themselves, so every item they return matches the whole query.
    """

    statuses: frozenset[ExecutionStatus] = frozenset()
    workflow_id: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    include_nodes: bool = False

    def matches(self, execution: Execution) -> bool:
        """Whether ``execution`` satisfies every filter (what a backend could not push down)."""
        if self.statuses and execution.status not in self.statuses:
            return False
        if self.workflow_id is not None and execution.workflow_id != self.workflow_id:
            return False
        moment = execution.sort_time
        if self.started_after is not None and (moment is None or moment < self.started_after):
            return False
        return not (
            self.started_before is not None and (moment is None or moment > self.started_before)
        )


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record a backend listed that its adapter could not read: left out of the page and
    reported, so one odd record never costs the others."""

    instance: str
    native_id: str | None
    """Its id, when even that could be read."""
    reason: str


@dataclass(frozen=True, slots=True)
class Page:
    """A slice of one backend's executions in the feed order, resumable from ``position``.

    ``position`` is adapter-defined JSON-able data (see ``Backend.position_after``) that resumes
    the stream right after the last item; ``None`` once the stream is exhausted. ``total`` is the
    backend's exact count for the query when it reports one.
    """

    items: tuple[Execution, ...]
    position: Mapping[str, Any] | None
    total: int | None = None
    calls: int = field(default=1, compare=False)
    unreadable: tuple[Unreadable, ...] = field(default=(), compare=False)
    """Records of this slice that could not be read (left out of ``items``)."""
    carry: Mapping[str, Any] | None = field(default=None, compare=False)
    """Adapter-defined: what reading this slice taught the adapter about executions beyond
    its items, which a position inside the slice must keep (``Backend.position_after`` gets
    the page). ``None`` when the adapter needs nothing but the items."""


@dataclass(frozen=True, slots=True)
class Watch:
    """What one live poll of an instance read (``Backend.watch``).

    ``recent`` holds its newest executions in the instance's own stream order (newest first,
    the order ``Backend.position_after`` resumes), as many as the poll asked for when
    ``more`` is true; ``active`` holds its pending, running and waiting executions, whatever
    their age (an execution may be in both). ``calls`` counts the requests made.
    """

    recent: tuple[Execution, ...]
    active: tuple[Execution, ...]
    more: bool
    """Whether older executions follow ``recent``."""
    calls: int = field(default=1, compare=False)


@dataclass(frozen=True, slots=True)
class CostModel:
    """What reading one instance costs, in backend requests, the way its adapter reads it.

    Each adapter states its own (``Backend.costs``), next to the constants it reads with; the
    query cost estimate prices an operation with them before any request is sent. They are
    estimates for a safety limit: a cache answers some reads without a request, and unusual
    data can cost more.
    """

    page_size: int
    """Executions one list request returns at most."""
    list_slack: int = 0
    """Executions a list reads beyond the ``first + 1`` the feed asks for."""
    streams: int = 1
    """List streams read for a page without a status filter."""
    stream_per_status: bool = False
    """Whether a status filter is read as one stream per status (else as one stream)."""
    local_filter_factor: int = 1
    """List pages read per page wanted when several statuses are filtered by the adapter."""
    undated_reads: int = 0
    """Reads per page for executions that have not started (at most one per execution of the
    page), when such executions can match: no date filter, and ``PENDING`` admitted."""
    undated_on_resume: bool = False
    """Whether those reads are only made when a page resumes from a cursor."""
    undated_any_status: bool = False
    """Whether an execution of any status may come without a time (else only ``PENDING``
    ones: the reads are counted when the status filter admits one)."""
    undated_lists: int = 0
    """List requests the start of a stream makes to find executions that have not started
    wherever the API lists them, when those can match (no date filter). Counted on every page:
    a stream starts on the first page of the walk that takes one of its items, which may be a
    page resumed from a cursor."""
    detail_reads: int = 0
    """Reads per listed execution whose node data is asked for."""
    count_reads: int = 0
    """Reads for an exact total (``totalCount``)."""
    workflow_name_reads: int = 0
    """Reads for the name of a listed execution's workflow."""
    list_errors: bool = True
    """Whether list items carry an execution's error message; when not, learning it means a
    list read with node data (``error_page_size`` executions a request)."""
    error_page_size: int = 50
    watch_reads: int = 0
    """Requests one live poll makes (``Backend.watch``): the newest page and the streams of
    active executions."""

    def list_reads(
        self, first: int, statuses: Collection[str], *, dated: bool, resuming: bool
    ) -> int:
        """Requests to read one page of ``first`` (the feed reads ``first + 1``).

        ``statuses``: the status filter's names (empty: every status); ``dated``: whether the
        page has a date filter; ``resuming``: whether it starts from a cursor.
        """
        wanted = first + 1
        pages = math.ceil((wanted + self.list_slack) / self.page_size)
        per_status = len(statuses) if self.stream_per_status else 1
        streams = per_status if statuses else self.streams
        factor = self.local_filter_factor if len(statuses) > 1 else 1
        cost = streams * pages * factor
        admitted = (
            not statuses or self.undated_any_status or ExecutionStatus.PENDING.value in statuses
        )
        if not dated and admitted:
            if resuming or not self.undated_on_resume:
                cost += min(self.undated_reads, wanted)
            cost += self.undated_lists
        return cost
