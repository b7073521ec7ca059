"""The tools' arguments: one pydantic model per tool.

Each model's JSON schema (with its descriptions, defaults and ranges) is the tool's input
schema, and the model checks a call's arguments: unknown keys, wrong types and values out of
range are refused with ``BAD_USER_INPUT`` (never cut to fit).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from execgate.domain.models import ExecutionStatus

MAX_LIMIT = 250
"""The largest page ``list_executions`` serves (the seed's range is 1-250)."""

STATUSES: dict[str, ExecutionStatus] = {
    "success": ExecutionStatus.SUCCESS,
    "error": ExecutionStatus.FAILED,
    "waiting": ExecutionStatus.WAITING,
    "running": ExecutionStatus.RUNNING,
    "pending": ExecutionStatus.PENDING,
    "cancelled": ExecutionStatus.CANCELLED,
    "crashed": ExecutionStatus.CRASHED,
    "unknown": ExecutionStatus.UNKNOWN,
}
"""The tools' status names (the seed's ``success``, ``error``, ``waiting`` and execgate's other
statuses in the same style) → execgate's status."""

StatusName = Literal[
    "success", "error", "waiting", "running", "pending", "cancelled", "crashed", "unknown"
]

_INSTANCE = (
    "The instance's name (see list_instances). Optional when 'id' is an execgate global ID "
    "or [mcp] default_instance is configured."
)
_ID = (
    "The execution: its id on the instance (number or string), or its execgate global ID "
    "(the 'globalId' of list_executions), which names the instance too."
)

Instance = Annotated[str, Field(min_length=1, max_length=200)]
Integer = Annotated[int, Strict()]
"""An integer as JSON writes it (``true`` or ``1.0`` are not)."""
ExecutionID = Integer | Annotated[str, Field(min_length=1, max_length=1000)]


class Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class ListExecutionsArguments(Arguments):
    instance: Instance | None = Field(
        None,
        description="Only this instance. Omitted: the merged feed of every instance the client "
        "may see, newest first; each item names its instance.",
    )
    workflow_id: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None,
        alias="workflowId",
        description="Only executions of this workflow: its id on the instance (matched on "
        "every instance when 'instance' is omitted), or its execgate global ID.",
    )
    finished: bool | None = Field(
        None,
        description="true: only executions that have stopped (success, error, cancelled, "
        "crashed); false: only those that have not (pending, running, waiting, unknown).",
    )
    status: StatusName | None = Field(None, description="Only executions with this status.")
    include_data: bool = Field(
        False,
        alias="includeData",
        description="Include each execution's node runs ('data', as get_execution shows it): "
        "slower and larger.",
    )
    limit: Integer = Field(
        100,
        ge=1,
        le=MAX_LIMIT,
        description=f"The most executions to return, 1 to {MAX_LIMIT}; out of range is an "
        "error, never cut.",
    )
    cursor: Annotated[str, Field(min_length=1, max_length=8000)] | None = Field(
        None,
        description="The 'nextCursor' of the previous page, with the same filters, to read "
        "the next one.",
    )


class GetExecutionArguments(Arguments):
    instance: Instance | None = Field(None, description=_INSTANCE)
    id: ExecutionID = Field(description=_ID)
    include_data: bool = Field(
        True,
        alias="includeData",
        description="Include the node runs, their output and errors ('data').",
    )


class ActionArguments(Arguments):
    instance: Instance | None = Field(None, description=_INSTANCE)
    id: ExecutionID = Field(description=_ID)


class RetryExecutionArguments(ActionArguments):
    force: bool = Field(
        False,
        description="Retry even when a retry of this execution already succeeded (refused "
        "with ALREADY_RETRIED otherwise).",
    )


class NoArguments(Arguments):
    pass


def input_schema(model: type[Arguments]) -> dict[str, Any]:
    return model.model_json_schema(by_alias=True)


def problems(error: ValidationError) -> str:
    """What is wrong with a call's arguments, one clause per problem (no pydantic links)."""
    clauses = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"] if part not in ("int", "str"))
        message = str(item["msg"])
        value = item.get("input")
        if item["type"] not in ("missing", "extra_forbidden") and isinstance(
            value, int | float | str
        ):
            shown = repr(value)
            message += f", got {shown if len(shown) <= 60 else shown[:60] + '…'}"
        clauses.append(f"{where or 'arguments'}: {message}")
    return "; ".join(dict.fromkeys(clauses))
