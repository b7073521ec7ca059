"""Renders simulated workflows in n8n 2.41's public-API wire format, and the parts executions share.

Pure functions over the backend-neutral store records (``simulate/data.py``): timestamps
(``YYYY-MM-DDTHH:MM:SS.mmmZ``), node types and parameters, ``workflowData`` and the
``GET /workflows/{id}`` body, n8n items and the error objects n8n stores. Executions are
rendered by ``n8n_records``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from execgate.simulate.data import SimEdge, SimExecution, SimWorkflow
from execgate.simulate.wire import iso_ms, name_uuid

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ISO = "1970-01-01T00:00:00.000Z"
PROJECT_ID = "SimProjectN8n001"
"""The one project of a simulated instance (``projectId`` filter, workflow ``shared``)."""

_NAMESPACE = uuid.UUID("8c0d7f3e-5b1a-4f7e-9a26-3c1f0e2d4b5a")

NODE_TYPES: dict[str, tuple[str, float]] = {
    "webhook": ("n8n-nodes-base.webhook", 2),
    "set": ("n8n-nodes-base.set", 3.4),
    "if": ("n8n-nodes-base.if", 2.2),
    "code": ("n8n-nodes-base.code", 2),
    "wait": ("n8n-nodes-base.wait", 1.1),
    "http": ("n8n-nodes-base.httpRequest", 4.2),
    "merge": ("n8n-nodes-base.merge", 3),
    "schedule": ("n8n-nodes-base.scheduleTrigger", 1.2),
    "manual": ("n8n-nodes-base.manualTrigger", 1),
    "slack": ("n8n-nodes-base.slack", 2.3),
    "email": ("n8n-nodes-base.emailSend", 2.1),
    "db": ("n8n-nodes-base.postgres", 2.5),
    "switch": ("n8n-nodes-base.switch", 3.2),
    "transform": ("n8n-nodes-base.itemLists", 3.1),
}

_PARAMETERS: dict[str, dict[str, Any]] = {
    "set": {"mode": "manual", "assignments": {"assignments": []}, "options": {}},
    "if": {"conditions": {"options": {}, "conditions": [], "combinator": "and"}, "options": {}},
    "code": {
        "mode": "runOnceForAllItems",
        "language": "javaScript",
        "jsCode": "return $input.all();",
    },
    "wait": {"resume": "timeInterval", "amount": 10, "unit": "minutes"},
    "http": {"method": "GET", "url": "https://example.invalid/api", "options": {}},
    "merge": {"mode": "append"},
    "schedule": {"rule": {"interval": [{"field": "hours"}]}},
    "manual": {},
    "slack": {"resource": "message", "operation": "post", "text": "done"},
    "email": {"fromEmail": "bot@example.invalid", "toEmail": "ops@example.invalid"},
    "db": {"operation": "executeQuery", "query": "select 1"},
    "switch": {"mode": "rules", "rules": {"values": []}, "options": {}},
    "transform": {"operation": "sort", "options": {}},
}

_WORKFLOW_SETTINGS = {
    "saveExecutionProgress": True,
    "saveManualExecutions": True,
    "saveDataErrorExecution": "all",
    "saveDataSuccessExecution": "all",
    "executionOrder": "v1",
}


def epoch_ms(moment: datetime) -> int:
    return (moment.astimezone(UTC) - EPOCH) // timedelta(milliseconds=1)


def stable_uuid(*parts: str) -> str:
    return name_uuid(_NAMESPACE, "/".join(parts))


def node_type(kind: str) -> tuple[str, float]:
    return NODE_TYPES.get(kind, (f"n8n-nodes-base.{kind}", 1))


def version_id(workflow: SimWorkflow) -> str:
    return stable_uuid(workflow.id, f"v{workflow.version}")


def render_nodes(workflow: SimWorkflow) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for index, node in enumerate(workflow.nodes):
        type_name, type_version = node_type(node.kind)
        rendered: dict[str, Any] = {"id": stable_uuid(workflow.id, node.name), "name": node.name}
        if node.kind in ("webhook", "wait"):
            rendered["webhookId"] = stable_uuid(workflow.id, node.name, "webhook")
        if node.kind == "webhook":
            parameters: dict[str, Any] = {
                "httpMethod": "GET",
                "path": workflow.id.lower(),
                "responseMode": "onReceived",
                "options": {},
            }
        else:
            parameters = dict(_PARAMETERS.get(node.kind, {}))
        rendered.update(
            type=type_name,
            typeVersion=type_version,
            position=[index * 220, 0],
            parameters=parameters,
        )
        nodes.append(rendered)
    return nodes


def render_connections(workflow: SimWorkflow) -> dict[str, Any]:
    """``{source: {"main": [[{node, type, index}, ...] per output]}}``."""
    incoming: dict[str, list[SimEdge]] = {}
    for edge in workflow.edges:
        incoming.setdefault(edge.target, []).append(edge)
    kinds = {node.name: node.kind for node in workflow.nodes}
    connections: dict[str, Any] = {}
    for edge in workflow.edges:
        outputs: list[list[dict[str, Any]]] = connections.setdefault(edge.source, {"main": []})[
            "main"
        ]
        while len(outputs) <= edge.output:
            outputs.append([])
        target_input = 0
        if kinds.get(edge.target) == "merge":
            target_input = incoming[edge.target].index(edge)
        outputs[edge.output].append({"node": edge.target, "type": "main", "index": target_input})
    return connections


def render_workflow_data(workflow: SimWorkflow) -> dict[str, Any]:
    """The workflow as an execution carries it (``workflowData``)."""
    return {
        "id": workflow.id,
        "name": workflow.name,
        "nodes": render_nodes(workflow),
        "connections": render_connections(workflow),
        "settings": dict(_WORKFLOW_SETTINGS),
        "nodeGroups": [],
    }


def render_workflow(workflow: SimWorkflow, created_at: datetime) -> dict[str, Any]:
    """``GET /api/v1/workflows/{id}``."""
    stamp = iso_ms(created_at)
    versioned = version_id(workflow)
    return {
        "id": workflow.id,
        "name": workflow.name,
        "description": None,
        "active": True,
        "activeVersionId": versioned,
        "createdAt": stamp,
        "updatedAt": stamp,
        "isArchived": False,
        "versionId": versioned,
        "versionCounter": workflow.version,
        "sourceWorkflowId": None,
        "triggerCount": 1 if workflow.nodes else 0,
        "nodes": render_nodes(workflow),
        "connections": render_connections(workflow),
        "nodeGroups": [],
        "settings": dict(_WORKFLOW_SETTINGS),
        "staticData": None,
        "pinData": None,
        "meta": None,
        "tags": [],
        "shared": [
            {
                "role": "workflow:owner",
                "workflowId": workflow.id,
                "projectId": PROJECT_ID,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        ],
    }


def to_items(value: Any) -> list[dict[str, Any]]:
    """Simulated node data as n8n items: ``[{"json": {...}, "pairedItem": {"item": i}}]``."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    items = []
    for index, entry in enumerate(values):
        body = entry if isinstance(entry, dict) else {"value": entry}
        items.append({"json": body, "pairedItem": {"item": index}})
    return items


def _error_name(kind: str) -> str:
    if kind == "code":
        return "WrappedExecutionError"
    if kind == "http":
        return "NodeApiError"
    return "NodeOperationError"


def node_error(kind: str, message: str, at: datetime) -> dict[str, Any]:
    name = _error_name(kind)
    return {
        "level": "error" if kind != "code" else "info",
        "shouldReport": False,
        "description": None,
        "tags": {},
        "timestamp": epoch_ms(at),
        "name": name,
        "message": message,
        "stack": f"{name}: {message}\n    at ExecuteContext.execute (simulated node)",
    }


def cancelled_error(execution: SimExecution, at: datetime) -> dict[str, Any]:
    return {
        "level": "warning",
        "shouldReport": False,
        "tags": {},
        "extra": {"executionId": execution.id},
        "timestamp": epoch_ms(at),
        "context": {},
        "functionality": "regular",
        "name": "ManualExecutionCancelledError",
        "reason": "manual",
        "message": "The execution was cancelled manually",
        "stack": "ManualExecutionCancelledError: The execution was cancelled manually\n"
        "    at ExecutionService.stopDuringRun (simulated)",
    }


def crashed_error(at: datetime) -> dict[str, Any]:
    return {
        "message": "Workflow did not finish, possible out-of-memory issue",
        "timestamp": epoch_ms(at),
        "name": "WorkflowCrashedError",
        "context": {},
    }


def node_crashed_error(at: datetime) -> dict[str, Any]:
    return {
        "message": "Execution stopped at this node",
        "timestamp": epoch_ms(at),
        "name": "NodeCrashedError",
        "description": "n8n may have run out of memory while running this execution.",
        "context": {},
        "cause": {"name": "Error", "message": "Node crashed, possible out-of-memory issue"},
    }
