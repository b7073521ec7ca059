"""Renders simulated executions as n8n 2.41's public API answers them.

Shapes, key order and quirks follow what a real n8n 2.41.1 server answered
(``tests/data/n8n/``):

- ``runData`` holds one list of runs per node name, in the order nodes first ran; a run has
  ``startTime`` (epoch ms), ``executionIndex``, ``source``, ``hints``, ``executionTime``,
  ``executionStatus`` and either ``data.main`` (one item list per output) or ``error``.
- A running execution's ``runData`` holds only the finished node runs; a canceled one only the
  runs that succeeded before the stop.
- A crashed execution's interrupted node run has ``executionStatus: "crashed"``,
  ``executionIndex: 0``, ``source: [null]`` and a ``startTime`` in epoch *seconds*.
- A retry copies the runs that succeeded in the retried execution (with their original times
  and indexes) and numbers the runs it executes itself from 0 again (``restart``).
- List items have no ``createdAt``; a single read has it; a retry answer has no ``stoppedAt``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from execgate.simulate.data import SimExecution, SimNodeRun, SimWorkflow
from execgate.simulate.n8n_render import (
    cancelled_error,
    crashed_error,
    epoch_ms,
    node_crashed_error,
    node_error,
    node_type,
    render_nodes,
    render_workflow_data,
    to_items,
    version_id,
)
from execgate.simulate.wire import iso_ms


def ordered_runs(execution: SimExecution) -> list[SimNodeRun]:
    """The execution's node runs in the order they ran (start time, then list order)."""
    indexed = sorted(enumerate(execution.runs), key=lambda pair: (pair[1].started_at, pair[0]))
    return [run for _, run in indexed]


def _shown(execution: SimExecution, run: SimNodeRun) -> bool:
    if run.status == "success":
        return True
    if run.status == "error":
        return execution.status in ("success", "error")
    if run.status == "waiting":
        return execution.status == "waiting"
    return False


@dataclass
class RunData:
    run_data: dict[str, list[dict[str, Any]]]
    last_node: str | None
    failed: dict[str, Any] | None
    """The error object of the run that failed, if one did."""


def render_run_data(
    execution: SimExecution, workflow: SimWorkflow | None, restart: int | None = None
) -> RunData:
    """``resultData.runData`` and ``lastNodeExecuted`` of one execution."""
    runs = ordered_runs(execution)
    shown = [run for run in runs if _shown(execution, run)]
    crashed: SimNodeRun | None = None
    if execution.status == "crashed":
        crashed = next((run for run in reversed(runs) if run.status != "success"), None)
    edges = {(e.source, e.target): e.output for e in workflow.edges} if workflow else {}
    outputs_of: dict[str, int] = {}
    if workflow:
        for edge in workflow.edges:
            outputs_of[edge.source] = max(outputs_of.get(edge.source, 1), edge.output + 1)

    # which run of its source each shown run read, and which output each run's items left by
    counts: dict[str, int] = {}
    run_index: list[int] = []
    source_run: list[int] = []
    slot: dict[tuple[str, int], int] = {}
    for run in shown:
        previous = counts.get(run.source, 0) - 1 if run.source else -1
        source_run.append(max(previous, 0))
        if run.source is not None:
            slot.setdefault((run.source, max(previous, 0)), edges.get((run.source, run.node), 0))
        run_index.append(counts.get(run.node, 0))
        counts[run.node] = counts.get(run.node, 0) + 1

    run_data: dict[str, list[dict[str, Any]]] = {}
    failed: dict[str, Any] | None = None
    for position, run in enumerate(shown):
        index = position if restart is None or position < restart else position - restart
        entry: dict[str, Any] = {
            "startTime": epoch_ms(run.started_at),
            "executionIndex": index,
            "source": []
            if run.source is None
            else [
                {
                    "previousNode": run.source,
                    "previousNodeOutput": edges.get((run.source, run.node), 0),
                    "previousNodeRun": source_run[position],
                }
            ],
            "hints": [],
            "executionTime": run.duration_ms,
            "executionStatus": run.status,
        }
        if run.status == "error":
            message = run.error or execution.error_message or "Node execution failed"
            entry["error"] = node_error(run.kind, message, run.started_at)
            failed = entry["error"]
        else:
            value = run.output
            if value is None and (run.status == "waiting" or run.source is None):
                value = run.input
            outputs: list[list[dict[str, Any]]] = [[] for _ in range(outputs_of.get(run.node, 1))]
            chosen = slot.get((run.node, run_index[position]), 0)
            while len(outputs) <= chosen:
                outputs.append([])
            outputs[chosen] = to_items(value)
            entry["data"] = {"main": outputs}
        run_data.setdefault(run.node, []).append(entry)
    last = shown[-1].node if shown else None
    if crashed is not None:
        at = execution.finished_at or crashed.started_at
        run_data.setdefault(crashed.node, []).append(
            {
                "startTime": epoch_ms(crashed.started_at) // 1000,
                "executionIndex": 0,
                "executionTime": 0,
                "source": [None],
                "executionStatus": "crashed",
                "error": node_crashed_error(at),
            }
        )
        last = crashed.node
    return RunData(run_data, last, failed)


def _trigger_stack(execution: SimExecution, workflow: SimWorkflow | None) -> list[dict[str, Any]]:
    if workflow is None or not workflow.nodes:
        return []
    node = render_nodes(workflow)[0]
    return [{"node": node, "data": {"main": [to_items(execution.input)]}, "source": None}]


def render_data(
    execution: SimExecution,
    workflow: SimWorkflow | None,
    *,
    restart: int | None = None,
    redact: bool = False,
) -> dict[str, Any]:
    """The ``data`` object of an execution read with ``includeData=true``."""
    rendered = render_run_data(execution, workflow, restart)
    if redact:
        for runs in rendered.run_data.values():
            for run in runs:
                for output in run.get("data", {}).get("main", []):
                    output[:] = [
                        {
                            "json": {},
                            "pairedItem": item["pairedItem"],
                            "redaction": {"redacted": True, "reason": "user_requested"},
                        }
                        for item in output
                    ]
    result: dict[str, Any] = {"runData": rendered.run_data}
    if rendered.last_node is not None:
        result["lastNodeExecuted"] = rendered.last_node
    stopped = execution.finished_at or execution.created_at
    if execution.status == "error":
        result["error"] = rendered.failed or node_error(
            "workflow", execution.error_message or "Workflow execution failed", stopped
        )
    elif execution.status == "canceled":
        result["error"] = cancelled_error(execution, stopped)
    elif execution.status == "crashed":
        result["error"] = crashed_error(stopped)
    trigger_type = node_type(workflow.nodes[0].kind)[0] if workflow and workflow.nodes else None
    data: dict[str, Any] = {
        "version": 1,
        "startData": {},
        "resultData": result,
        "executionData": {
            "contextData": {},
            "nodeExecutionStack": _trigger_stack(execution, workflow)
            if execution.status == "new"
            else [],
            "metadata": {},
            "waitingExecution": {},
            "waitingExecutionSource": {},
            "runtimeData": {
                "version": 1,
                "establishedAt": epoch_ms(execution.created_at),
                "source": execution.mode,
                "triggerNode": {
                    "name": workflow.nodes[0].name if workflow and workflow.nodes else None,
                    "type": trigger_type,
                },
                "redaction": {"version": 2, "production": False, "manual": False},
            },
        },
        "resumeToken": hashlib.sha256(f"resume/{execution.id}".encode()).hexdigest(),
    }
    if execution.status == "waiting" and execution.wait_till is not None:
        data["waitTill"] = iso_ms(execution.wait_till)
    if redact:
        data["redactionInfo"] = {"isRedacted": True, "reason": "user_requested", "canReveal": True}
    return data


def stopped_at(execution: SimExecution) -> datetime | None:
    """``stoppedAt``: null while new or running; a waiting one stopped when its wait began."""
    if execution.status in ("new", "running"):
        return None
    if execution.finished_at is not None:
        return execution.finished_at
    if execution.status == "waiting":
        runs = ordered_runs(execution)
        if runs:
            return runs[-1].started_at + timedelta(milliseconds=runs[-1].duration_ms)
        return execution.started_at
    return None


def _size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, separators=(",", ":")))


def _version_of(execution: SimExecution, workflow: SimWorkflow | None) -> str | None:
    # a retry's record carries no workflow version id (as n8n 2.41 stores it)
    if workflow is None or execution.mode == "retry":
        return None
    return version_id(workflow)


def list_item(
    execution: SimExecution,
    workflow: SimWorkflow | None,
    *,
    include_data: bool,
    restart: int | None = None,
    redact: bool = False,
) -> dict[str, Any]:
    """One item of ``GET /api/v1/executions`` (no ``createdAt``, unlike a single read)."""
    item: dict[str, Any] = {
        "id": execution.id,
        "finished": execution.finished,
        "mode": execution.mode,
        "retryOf": execution.retry_of,
        "retrySuccessId": execution.retry_success_id,
        "status": execution.status,
        "startedAt": iso_ms(execution.started_at),
        "stoppedAt": iso_ms(stopped_at(execution)),
        "workflowId": execution.workflow_id,
        "waitTill": iso_ms(execution.wait_till),
    }
    if include_data:
        data = render_data(execution, workflow, restart=restart, redact=redact)
        item.update(
            storedAt="db",
            jsonSizeBytes=_size(data),
            workflowVersionId=_version_of(execution, workflow),
            data=data,
            workflowData=render_workflow_data(workflow) if workflow else {},
            customData={},
        )
    return item


def record(
    execution: SimExecution,
    workflow: SimWorkflow | None,
    *,
    include_data: bool = False,
    restart: int | None = None,
    redact: bool = False,
) -> dict[str, Any]:
    """``GET /api/v1/executions/{id}`` (and, with a numeric id, the DELETE answer)."""
    data = render_data(execution, workflow, restart=restart, redact=redact)
    body: dict[str, Any] = {
        "id": execution.id,
        "finished": execution.finished,
        "mode": execution.mode,
        "retryOf": execution.retry_of,
        "retrySuccessId": execution.retry_success_id,
        "status": execution.status,
        "createdAt": iso_ms(execution.created_at),
        "startedAt": iso_ms(execution.started_at),
        "stoppedAt": iso_ms(stopped_at(execution)),
        "deletedAt": None,
        "workflowId": execution.workflow_id,
        "waitTill": iso_ms(execution.wait_till),
        "storedAt": "db",
        "tracingContext": None,
        "deduplicationKey": None,
        "jsonSizeBytes": _size(data),
        "binaryDataSizeBytes": 0,
        "workflowVersionId": _version_of(execution, workflow),
        "usedPrivateCredentials": False,
    }
    if include_data:
        body["data"] = data
        body["customData"] = {}
        body["workflowData"] = render_workflow_data(workflow) if workflow else {}
    return body


def retry_answer(
    execution: SimExecution, workflow: SimWorkflow | None, restart: int | None
) -> dict[str, Any]:
    """The body of a successful ``POST /executions/{id}/retry`` (no ``stoppedAt``)."""
    workflow_data: dict[str, Any] = render_workflow_data(workflow) if workflow else {}
    if workflow is not None:
        workflow_data.update(active=False, activeVersionId=None)
    return {
        "id": execution.id,
        "mode": execution.mode,
        "startedAt": iso_ms(execution.started_at),
        "workflowId": execution.workflow_id,
        "finished": execution.finished,
        "retryOf": execution.retry_of,
        "status": execution.status,
        "data": render_data(execution, workflow, restart=restart),
        "workflowData": workflow_data,
        "customData": {},
        "storedAt": "db",
    }
