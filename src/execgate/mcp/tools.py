"""The tool catalogue: each tool's name, description, annotations, argument model, answer
shape, the action it performs (audited) and what it costs in backend requests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp import types

from execgate.domain.access import Action
from execgate.mcp import calls
from execgate.mcp.answers import (
    Cancelled,
    Deleted,
    ExecutionList,
    ExecutionSummary,
    InstanceList,
    output_schema,
)
from execgate.mcp.arguments import (
    MAX_LIMIT,
    ActionArguments,
    Arguments,
    GetExecutionArguments,
    ListExecutionsArguments,
    NoArguments,
    RetryExecutionArguments,
    input_schema,
)

MUTATION_READS = 2
"""A mutation reads the execution, then sends the action (the GraphQL cost map's 2)."""


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[Arguments]
    answer: type[Any]
    run: Callable[[calls.Call, Any], Awaitable[Any]]
    cost: Callable[[calls.Call, Any], int]
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    action: Action | None = None
    """The action it performs: its attempts are audited, refusals included."""

    def definition(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=input_schema(self.arguments),
            output_schema=output_schema(self.answer),
            annotations=types.ToolAnnotations(
                title=self.title,
                read_only_hint=self.read_only,
                destructive_hint=self.destructive,
                idempotent_hint=self.idempotent,
                open_world_hint=True,
            ),
        )


def _fixed(cost: int) -> Callable[[calls.Call, Any], int]:
    def fixed(call: calls.Call, args: Any) -> int:
        return cost

    return fixed


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_instances",
        title="List instances",
        description="The workflow-automation instances this client may see: each one's name "
        "(what the other tools' 'instance' takes), kind (team or n8n) and capabilities.",
        arguments=NoArguments,
        answer=InstanceList,
        run=calls.list_instances,
        cost=_fixed(0),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        name="list_executions",
        title="List executions",
        description="Workflow executions, newest first, filtered by instance, workflow, status "
        "and whether they finished; paged with 'cursor' (pass back 'nextCursor' until it is "
        "null). Without 'instance', the merged feed of every instance this client may see. "
        f"'limit' is 1 to {MAX_LIMIT} (default 100).",
        arguments=ListExecutionsArguments,
        answer=ExecutionList,
        run=calls.list_executions,
        cost=calls.list_cost,
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        name="get_execution",
        title="Get execution",
        description="One execution, with its node runs, their output and errors (the 'data' "
        "of an n8n execution; team-style node executions in the same shape) unless "
        "'includeData' is false.",
        arguments=GetExecutionArguments,
        answer=ExecutionSummary,
        run=calls.get_execution,
        cost=_fixed(1),
        read_only=True,
        idempotent=True,
    ),
    ToolSpec(
        name="retry_execution",
        title="Retry execution",
        description="Run a failed or crashed execution again; answers the new execution once "
        "the instance has started it. Refused (with the code in the error) when it is not "
        "retryable (NOT_RETRYABLE), a retry already succeeded (ALREADY_RETRIED, unless "
        "'force'), the instance cannot retry (UNSUPPORTED) or the client may not (FORBIDDEN).",
        arguments=RetryExecutionArguments,
        answer=ExecutionSummary,
        run=calls.retry_execution,
        cost=_fixed(MUTATION_READS),
        action=Action.RETRY,
    ),
    ToolSpec(
        name="cancel_execution",
        title="Cancel execution",
        description="Stop a running, pending or waiting execution. Refused when it has "
        "stopped already (NOT_CANCELLABLE), the instance cannot cancel (UNSUPPORTED) or the "
        "client may not (FORBIDDEN).",
        arguments=ActionArguments,
        answer=Cancelled,
        run=calls.cancel_execution,
        cost=_fixed(MUTATION_READS + 1),
        idempotent=True,
        action=Action.CANCEL,
    ),
    ToolSpec(
        name="delete_execution",
        title="Delete execution",
        description="Delete an execution's record permanently; it cannot be undone. Refused "
        "while it runs (RUNNING), when the instance cannot delete (UNSUPPORTED) or the client "
        "may not (FORBIDDEN).",
        arguments=ActionArguments,
        answer=Deleted,
        run=calls.delete_execution,
        cost=_fixed(MUTATION_READS),
        destructive=True,
        idempotent=True,
        action=Action.DELETE,
    ),
)

BY_NAME = {tool.name: tool for tool in TOOLS}
