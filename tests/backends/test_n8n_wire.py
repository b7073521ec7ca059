"""Parsing what a real n8n 2.41.1 answered (``tests/data/n8n/``) into domain objects."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from execgate.backends.n8n_wire import WireError, parse_execution, timestamp
from execgate.domain.models import ExecutionMode, ExecutionStatus
from tests.backends.n8n_contract import sample_json, sample_txt


def parse(body: Any, include_nodes: bool = True) -> Any:
    return parse_execution("real", body, include_nodes=include_nodes)


def test_a_failed_execution() -> None:
    body = sample_json("execution-get-error-includeData.json")
    execution = parse(body)
    assert execution.key.native_id == "4"
    assert (execution.status, execution.status_raw) == (ExecutionStatus.FAILED, "error")
    assert (execution.mode, execution.mode_raw) == (ExecutionMode.WEBHOOK, "webhook")
    assert execution.workflow_name == "scout-fail"
    assert execution.error_message == "scout boom [line 1]"
    assert execution.created_at == datetime(2026, 11, 23, 19, 53, 43, 497000, tzinfo=UTC)
    assert execution.duration_ms == 366
    nodes = execution.node_executions
    assert [(n.node_name, n.position, n.status) for n in nodes] == [
        ("Webhook", 0, ExecutionStatus.SUCCESS),
        ("Set", 1, ExecutionStatus.SUCCESS),
        ("Code", 2, ExecutionStatus.FAILED),
    ]
    assert [n.node_type for n in nodes] == [
        "n8n-nodes-base.webhook",
        "n8n-nodes-base.set",
        "n8n-nodes-base.code",
    ]
    code = nodes[2]
    assert code.error_message == "scout boom [line 1]"
    assert code.output_data is None
    assert code.input_data == {
        "main": [[{"json": {"greeting": "hello"}, "pairedItem": {"item": 0}}]]
    }
    assert code.started_at == datetime(2026, 11, 23, 19, 53, 43, 841000, tzinfo=UTC)
    assert code.duration_ms == 88
    assert code.finished_at == datetime(2026, 11, 23, 19, 53, 43, 929000, tzinfo=UTC)
    webhook = body["data"]["resultData"]["runData"]["Webhook"][0]
    assert execution.input_data == webhook["data"]
    assert execution.output_data is None  # the last node failed and has no output


def test_a_retry_that_renumbered_its_runs_is_ordered_by_source() -> None:
    # given a retry whose re-executed Code run says executionIndex 0, like the Webhook's
    body = sample_json("execution-get-retry-error-includeData.json")
    runs = body["data"]["resultData"]["runData"]
    assert runs["Code"][0]["executionIndex"] == runs["Webhook"][0]["executionIndex"] == 0
    execution = parse(body)
    assert [n.node_name for n in execution.node_executions] == ["Webhook", "Set", "Code"]
    assert (execution.mode, execution.retry_of) == (ExecutionMode.RETRY, "4")


def test_a_crashed_execution_with_a_start_time_in_seconds() -> None:
    execution = parse(sample_json("execution-get-crashed-includeData.json"))
    assert execution.status is ExecutionStatus.CRASHED
    assert execution.error_message == "Workflow did not finish, possible out-of-memory issue"
    webhook, code = execution.node_executions
    assert (webhook.node_name, code.node_name) == ("Webhook", "Code")
    assert code.status is ExecutionStatus.CRASHED
    assert code.input_data is None  # its source is [null]
    assert code.started_at == datetime(2026, 11, 23, 19, 57, 34, tzinfo=UTC)
    assert code.error_message == "Execution stopped at this node"


def test_canceled_waiting_running_and_new() -> None:
    canceled = parse(sample_json("execution-get-canceled-includeData.json"))
    assert canceled.status is ExecutionStatus.CANCELLED
    assert canceled.retry_success_id == "17"
    assert canceled.error_message == "The execution was cancelled manually"
    waiting = parse(sample_json("execution-get-waiting-includeData.json"))
    assert waiting.status is ExecutionStatus.WAITING
    assert [n.status for n in waiting.node_executions] == [
        ExecutionStatus.SUCCESS,
        ExecutionStatus.WAITING,
    ]
    running = parse(sample_json("execution-get-running-slowcode-includeData.json"))
    assert (running.status, running.finished_at, running.duration_ms) == (
        ExecutionStatus.RUNNING,
        None,
        None,
    )
    assert [n.node_name for n in running.node_executions] == ["Webhook"]
    new = parse(sample_txt("execution-get-new-includeData.txt")[1])
    assert (new.status, new.started_at, new.node_executions) == (
        ExecutionStatus.PENDING,
        None,
        (),
    )


def test_answers_without_some_fields() -> None:
    # a retry answer has no stoppedAt and no createdAt; a stop answer reports the epoch
    retry = parse(sample_json("execution-retry-canceled.json"))
    assert (retry.finished_at, retry.created_at, retry.retry_of) == (None, None, "10")
    assert retry.status is ExecutionStatus.SUCCESS and retry.finished is True
    assert timestamp("1970-01-01T00:00:00.000Z", "startedAt") is None
    # a DELETE answer's numeric id
    deleted = parse(sample_txt("execution-delete-success.txt")[1], include_nodes=False)
    assert deleted.native_id == "2"
    assert deleted.node_executions is None
    # a list item has no createdAt and no node data
    item = parse(sample_json("executions-list-page1.json")["data"][0], include_nodes=False)
    assert (item.created_at, item.native_id, item.retry_of) == (None, "17", "10")


def test_unknown_modes_and_statuses_keep_their_raw_value() -> None:
    body = {"id": "1", "status": "paused", "mode": "agent", "workflowId": "w"}
    execution = parse(body, include_nodes=False)
    assert (execution.status, execution.status_raw) == (ExecutionStatus.UNKNOWN, "paused")
    assert (execution.mode, execution.mode_raw) == (ExecutionMode.UNKNOWN, "agent")
    for mode, expected in [("error", ExecutionMode.ERROR_WORKFLOW), ("cli", ExecutionMode.CLI)]:
        assert parse({**body, "mode": mode}, include_nodes=False).mode is expected


@pytest.mark.parametrize(
    "body",
    [
        "nope",
        {"status": "success", "workflowId": "w"},
        {"id": "1", "status": "success", "workflowId": "w", "finished": "yes"},
        {"id": "1", "status": "success", "workflowId": "w", "stoppedAt": 12},
        {"id": "1", "status": "success", "workflowId": "w", "workflowData": []},
        {
            "id": "1",
            "status": "success",
            "workflowId": "w",
            "data": {"resultData": {"runData": {"A": [{"executionStatus": 3}]}}},
        },
    ],
)
def test_wrong_shapes_raise_wire_errors(body: Any) -> None:
    with pytest.raises(WireError):
        parse(body)


def test_a_wire_error_names_the_execution_and_the_field() -> None:
    body = {"id": "7", "status": "success", "workflowId": "w", "stoppedAt": 12}
    with pytest.raises(WireError, match=r"^execution 7: stoppedAt is not a timestamp$"):
        parse(body)
    runs = {"A": [{"startTime": 1, "executionStatus": "success"}, {"executionStatus": 3}]}
    body = {
        "id": "8",
        "status": "success",
        "workflowId": "w",
        "data": {"resultData": {"runData": runs}},
    }
    with pytest.raises(WireError, match=r"^execution 8: run 1 of a node: executionStatus is not"):
        parse(body)


def test_runs_in_sort_order_skip_the_dependency_walk_and_keep_its_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given runs whose indexes already follow their sources, and a retry's that do not
    import heapq

    walks = []
    real = heapq.heapify

    def counting(items: list[Any]) -> None:
        walks.append(len(items))
        real(items)

    monkeypatch.setattr(heapq, "heapify", counting)
    plain = parse(sample_json("execution-get-error-includeData.json"))
    assert walks == []  # sorted by executionIndex: already in dependency order
    retry = parse(sample_json("execution-get-retry-error-includeData.json"))
    assert len(walks) == 1  # renumbered: the walk decides
    assert [n.node_name for n in plain.node_executions] == ["Webhook", "Set", "Code"]
    assert [n.node_name for n in retry.node_executions] == ["Webhook", "Set", "Code"]
