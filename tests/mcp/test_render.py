"""Domain executions in the seed's shapes: names, times, and the team-style node mapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import TypeAdapter

from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import (
    BackendKind,
    Execution,
    ExecutionMode,
    ExecutionStatus,
    NodeExecution,
)
from execgate.mcp import render
from execgate.mcp.answers import ExecutionSummary
from execgate.mcp.arguments import STATUSES

START = datetime(2025, 1, 15, 10, 30, tzinfo=UTC)
KEY = ExecutionKey("acme", "e-1")


def node(position: int, name: str, output: Any, **fields: Any) -> NodeExecution:
    return NodeExecution(
        key=NodeExecutionKey(KEY, f"n{position}"),
        node_name=name,
        node_type="HTTP",
        status=fields.pop("status", ExecutionStatus.SUCCESS),
        status_raw="SUCCESS",
        position=position,
        started_at=START + timedelta(milliseconds=10 * position),
        duration_ms=7,
        output_data=output,
        **fields,
    )


def execution(
    status: ExecutionStatus, nodes: tuple[NodeExecution, ...], **fields: Any
) -> Execution:
    return Execution(
        key=KEY,
        workflow_id="wf-1",
        status=status,
        status_raw=status.value,
        mode=fields.pop("mode", ExecutionMode.WEBHOOK),
        mode_raw="WEBHOOK",
        finished=status is ExecutionStatus.SUCCESS,
        workflow_name="Order Processing",
        started_at=START,
        finished_at=START + timedelta(seconds=2, milliseconds=245),
        node_executions=nodes,
        **fields,
    )


def test_the_summary_in_the_seeds_words() -> None:
    found = render.summary(
        execution(ExecutionStatus.FAILED, (), mode=ExecutionMode.ERROR_WORKFLOW, retry_of="e-0")
    )
    assert found == {
        "id": "e-1",
        "workflowId": "wf-1",
        "finished": True,
        "mode": "error",
        "startedAt": "2025-01-15T10:30:00.000Z",
        "stoppedAt": "2025-01-15T10:30:02.245Z",
        "retryOf": "e-0",
        "retrySuccessId": None,
        "instance": "acme",
        "status": "error",
        "globalId": "RXhlY3V0aW9uOmFjbWU6ZS0x",
    }
    TypeAdapter(ExecutionSummary).validate_python(found)


def test_every_status_and_mode_has_a_lower_case_name() -> None:
    assert {render.STATUS_NAMES[s] for s in ExecutionStatus} == set(STATUSES)
    assert all(name == name.lower() for name in render.MODE_NAMES.values())
    assert len(render.MODE_NAMES) == len(ExecutionMode)


@pytest.mark.parametrize(
    ("status", "finished"),
    [
        (ExecutionStatus.SUCCESS, True),
        (ExecutionStatus.FAILED, True),
        (ExecutionStatus.CANCELLED, True),
        (ExecutionStatus.CRASHED, True),
        (ExecutionStatus.RUNNING, False),
        (ExecutionStatus.WAITING, False),
        (ExecutionStatus.PENDING, False),
        (ExecutionStatus.UNKNOWN, False),
    ],
)
def test_finished_means_stopped(status: ExecutionStatus, finished: bool) -> None:
    assert render.summary(execution(status, ()))["finished"] is finished


def test_times_are_utc_with_milliseconds() -> None:
    other = datetime(2025, 1, 15, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert render.moment(other) == "2025-01-15T10:30:00.123Z"
    assert render.moment(None) is None


def test_team_style_node_executions_become_runs() -> None:
    nodes = (
        node(0, "Trigger", {"order": 1}),
        node(1, "Split", [{"a": 1}, 2]),
        node(2, "Split", None, status=ExecutionStatus.FAILED, error_message="boom"),
    )
    data = render.execution_data(
        execution(ExecutionStatus.FAILED, nodes, error_message="boom"), BackendKind.TEAM
    )
    runs = data["resultData"]["runData"]
    assert list(runs) == ["Trigger", "Split"]
    assert runs["Trigger"] == [
        {
            "startTime": int(START.timestamp() * 1000),
            "executionTime": 7,
            "executionStatus": "success",
            "data": {"main": [[{"json": {"order": 1}}]]},
        }
    ]
    assert runs["Split"][0]["data"] == {"main": [[{"json": {"a": 1}}, {"json": {"value": 2}}]]}
    assert runs["Split"][1] == {
        "startTime": int(START.timestamp() * 1000) + 20,
        "executionTime": 7,
        "executionStatus": "error",
        "error": {"message": "boom"},
    }
    assert data["resultData"]["lastNodeExecuted"] == "Split"
    assert data["resultData"]["error"] == {"message": "boom"}
    assert data["workflowData"] == {"id": "wf-1", "name": "Order Processing"}


def test_n8n_run_data_keeps_its_own_shape() -> None:
    main = {"main": [[{"json": {"x": 1}, "pairedItem": {"item": 0}}], []]}
    data = render.execution_data(
        execution(ExecutionStatus.SUCCESS, (node(0, "Webhook", main), node(1, "Odd", "text"))),
        BackendKind.N8N,
    )
    runs = data["resultData"]["runData"]
    assert runs["Webhook"][0]["data"] == main
    assert "data" not in runs["Odd"][0]
    assert "error" not in data["resultData"]


def test_a_failure_without_a_message_still_says_so() -> None:
    data = render.execution_data(execution(ExecutionStatus.CRASHED, ()), BackendKind.N8N)
    assert data["resultData"]["error"]["message"] == (
        "the execution ended as crashed, without a message"
    )
    assert data["resultData"]["lastNodeExecuted"] is None
