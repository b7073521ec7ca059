"""The API types built from domain objects."""

from __future__ import annotations

from dataclasses import replace

from execgate.api.context import NodeRunsMemo
from execgate.api.types import NodeExecutionNode, node_executions
from execgate.domain.keys import ExecutionKey, NodeExecutionKey
from execgate.domain.models import (
    Execution,
    ExecutionMode,
    ExecutionStatus,
    NodeExecution,
)

EXECUTION = ExecutionKey("acme", "41")


def _runs(*names: str) -> tuple[NodeExecution, ...]:
    return tuple(
        NodeExecution(
            key=NodeExecutionKey(EXECUTION, str(position)),
            node_name=name,
            node_type="http",
            status=ExecutionStatus.SUCCESS,
            status_raw="success",
            position=position,
        )
        for position, name in enumerate(names)
    )


def test_the_same_node_runs_are_converted_once() -> None:
    # given
    memo = NodeRunsMemo(size=4)
    runs = _runs("Start", "Fetch")

    # when
    first = memo.of(runs, NodeExecutionNode.from_domain)
    second = memo.of(runs, NodeExecutionNode.from_domain)

    # then: the same node objects, in lists of their own
    assert [n.node_name for n in first] == ["Start", "Fetch"]
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert first is not second
    second.clear()
    assert len(memo.of(runs, NodeExecutionNode.from_domain)) == 2


def test_other_node_runs_are_converted_afresh_and_the_memo_stays_bounded() -> None:
    # given
    memo = NodeRunsMemo(size=2)
    kept = [_runs("A"), _runs("A"), _runs("B")]  # equal tuples, but not the same ones

    # when
    converted = [memo.of(runs, NodeExecutionNode.from_domain) for runs in kept]

    # then
    assert converted[0][0] is not converted[1][0]
    assert converted[0][0].node_name == converted[1][0].node_name == "A"
    assert len(memo) == 2
    again = memo.of(kept[0], NodeExecutionNode.from_domain)
    assert again[0] is not converted[0][0]  # the oldest was let go


def test_an_executions_node_runs_become_api_nodes_with_their_keys() -> None:
    execution = Execution(
        key=EXECUTION,
        workflow_id="7",
        workflow_name="Sync",
        status=ExecutionStatus.SUCCESS,
        status_raw="success",
        finished=True,
        mode=ExecutionMode.MANUAL,
        mode_raw="manual",
        node_executions=_runs("Start"),
    )

    [node] = node_executions(execution)
    [remembered] = node_executions(execution, NodeRunsMemo(size=2))

    assert isinstance(node, NodeExecutionNode)
    assert node.key == "acme:41:0" and node.execution_key == EXECUTION
    assert remembered.key == node.key
    assert node_executions(replace(execution, node_executions=())) == []
