"""Domain executions in the seed's shapes (``answers.py``).

Names are lower case: statuses as the tools' filter takes them (``FAILED`` is ``error``), modes
as n8n writes them (``ERROR_WORKFLOW`` is ``error``). ``finished`` is true once the execution
has stopped, whatever it ended as (n8n's own flag is true only on success). Times are ISO 8601
in UTC with milliseconds (``2025-01-15T10:30:00.000Z``); node runs' ``startTime`` is epoch
milliseconds.

Node runs (``data.resultData.runData``): for n8n, its own run data read back (each run's
``data`` is n8n's ``{"main": [[{"json": …}]]}``); for team-style instances, each node
execution becomes one run of its node, in execution order: ``startTime`` ← ``startedAt``,
``executionTime`` ← ``durationMs``, ``executionStatus`` ← its status, ``data.main`` ←
``[[{"json": outputData}]]`` (an array output gives one item per element, a value that is not
an object ``{"json": {"value": …}}``), ``error.message`` ← ``errorMessage``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from execgate.domain import ids
from execgate.domain.models import BackendKind, Execution, ExecutionMode, ExecutionStatus
from execgate.domain.models import NodeExecution as DomainNodeRun
from execgate.mcp.answers import (
    ExecutionData,
    ExecutionSummary,
    NodeOutput,
    NodeRun,
    ResultData,
)
from execgate.mcp.arguments import STATUSES

STATUS_NAMES = {status: name for name, status in STATUSES.items()}
MODE_NAMES = {mode: mode.value.lower() for mode in ExecutionMode} | {
    ExecutionMode.ERROR_WORKFLOW: "error"
}
FAILURES = frozenset({ExecutionStatus.FAILED, ExecutionStatus.CRASHED})


def moment(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _millis(value: datetime | None) -> int | None:
    return None if value is None else round(value.timestamp() * 1000)


def summary(execution: Execution) -> ExecutionSummary:
    return {
        "id": execution.native_id,
        "workflowId": execution.workflow_id,
        "finished": execution.status.is_finished,
        "mode": MODE_NAMES[execution.mode],
        "startedAt": moment(execution.started_at),
        "stoppedAt": moment(execution.finished_at),
        "retryOf": execution.retry_of,
        "retrySuccessId": execution.retry_success_id,
        "instance": execution.instance,
        "status": STATUS_NAMES[execution.status],
        "globalId": ids.execution_id(execution.key),
    }


def with_data(execution: Execution, kind: BackendKind) -> ExecutionSummary:
    """The summary with ``data`` (an execution read with its node runs)."""
    found = summary(execution)
    found["data"] = execution_data(execution, kind)
    return found


def execution_data(execution: Execution, kind: BackendKind) -> ExecutionData:
    runs: dict[str, list[NodeRun]] = {}
    ordered = sorted(execution.node_executions or (), key=lambda n: n.position)
    for node in ordered:
        runs.setdefault(node.node_name, []).append(_run(node, kind))
    result: ResultData = {
        "runData": runs,
        "lastNodeExecuted": ordered[-1].node_name if ordered else None,
    }
    if execution.status in FAILURES:
        ended = STATUS_NAMES[execution.status]
        message = execution.error_message or f"the execution ended as {ended}, without a message"
        result["error"] = {"message": message}
    return {
        "resultData": result,
        "workflowData": {"id": execution.workflow_id, "name": execution.workflow_name},
    }


def _run(node: DomainNodeRun, kind: BackendKind) -> NodeRun:
    run: NodeRun = {
        "startTime": _millis(node.started_at),
        "executionTime": node.duration_ms,
        "executionStatus": STATUS_NAMES[node.status],
    }
    output = _output(node.output_data, kind)
    if output is not None:
        run["data"] = output
    if node.error_message is not None:
        run["error"] = {"message": node.error_message}
    return run


def _output(value: Any, kind: BackendKind) -> NodeOutput | None:
    if value is None:
        return None
    if kind is BackendKind.N8N:
        main = value.get("main") if isinstance(value, Mapping) else None
        if isinstance(main, list):
            return {"main": [list(o) if isinstance(o, list) else [] for o in main]}
        return None
    items: Iterable[Any] = value if isinstance(value, list) else [value]
    return {"main": [[{"json": _json(item)} for item in items]]}


def _json(item: Any) -> dict[str, Any]:
    return item if isinstance(item, dict) else {"value": item}
