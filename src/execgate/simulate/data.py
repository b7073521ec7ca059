"""Backend-neutral simulated data: workflows, executions and per-node runs.

Both simulators (team-style and n8n-style) render the same kind of store in their own wire
format. Statuses use n8n's vocabulary (``new``, ``running``, ``waiting``, ``success``, ``error``,
``canceled``, ``crashed``); the team-style simulator maps them to its own
(``new`` → PENDING, ``error``/``crashed`` → FAILED, ``canceled`` → CANCELLED, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

SimStatus = Literal["new", "running", "waiting", "success", "error", "canceled", "crashed"]
ACTIVE_STATUSES: frozenset[str] = frozenset({"new", "running", "waiting"})


@dataclass
class SimNode:
    name: str
    kind: str
    """Neutral node kind: webhook, schedule, manual, set, if, switch, code, http, wait, merge,
    slack, email, db, transform. Each simulator maps it to its own node type names."""


@dataclass
class SimEdge:
    source: str
    target: str
    output: int = 0


@dataclass
class SimWorkflow:
    id: str
    name: str
    nodes: list[SimNode]
    edges: list[SimEdge]
    trigger: str = "webhook"
    """webhook, schedule, manual, event or api: what starts it (the first node's kind)."""
    version: int = 1


@dataclass
class SimNodeRun:
    node: str
    kind: str
    run_index: int
    started_at: datetime
    duration_ms: int
    status: Literal["success", "error", "waiting", "running"]
    input: Any
    output: Any
    source: str | None = None
    """The node whose output fed this run (None for the trigger)."""
    error: str | None = None
    retry_count: int = 0
    id: str = ""
    """A stable id for the run (team-style node execution id)."""


@dataclass
class SimExecution:
    id: str
    workflow_id: str
    status: str
    mode: str
    """n8n vocabulary: webhook, trigger, manual, retry, cli, ..."""
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runs: list[SimNodeRun] = field(default_factory=list)
    error_message: str | None = None
    input: Any = None
    output: Any = None
    retry_of: str | None = None
    retry_success_id: str | None = None
    wait_till: datetime | None = None
    starts_at: datetime | None = None
    """For a queued (``new``) execution: when it starts running (see ``SimStore.advance``)."""
    finishes_at: datetime | None = None
    """For an active execution: when it completes on its own (see ``SimStore.advance``)."""
    final_status: str | None = None
    """For an active execution: the status it reaches at ``finishes_at``."""
    pending: list[SimNodeRun] = field(default_factory=list)
    """For an active execution: the node runs it still makes before it succeeds (placed in
    time when it finishes, see ``store.finish``)."""
    deleted: bool = False

    @property
    def finished(self) -> bool:
        return self.status == "success"
