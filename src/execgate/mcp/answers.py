"""What the tools answer: the seed's shapes as typed dicts, and their JSON schemas (the tools'
output schemas).

``ExecutionSummary`` is the seed's (``id``, ``workflowId``, ``finished``, ``mode``,
``startedAt``, ``stoppedAt``, ``retryOf``, ``retrySuccessId``) plus ``instance``, ``status``
and ``globalId``; ``Execution`` adds the seed's ``data`` (``resultData.runData`` of node runs,
``lastNodeExecuted``, ``error``; ``workflowData``) when asked for. ``render.py`` builds them.
"""

from __future__ import annotations

from typing import Any, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict


class ErrorInfo(TypedDict):
    message: str


class NodeOutput(TypedDict):
    main: list[list[dict[str, Any]]]


class NodeRun(TypedDict):
    startTime: int | None
    executionTime: int | None
    executionStatus: str
    data: NotRequired[NodeOutput]
    error: NotRequired[ErrorInfo]


class ResultData(TypedDict):
    runData: dict[str, list[NodeRun]]
    lastNodeExecuted: str | None
    error: NotRequired[ErrorInfo]


class WorkflowData(TypedDict):
    id: str
    name: str | None


class ExecutionData(TypedDict):
    resultData: ResultData
    workflowData: WorkflowData


class ExecutionSummary(TypedDict):
    id: str
    workflowId: str
    finished: bool
    mode: str
    startedAt: str | None
    stoppedAt: str | None
    retryOf: str | None
    retrySuccessId: str | None
    instance: str
    status: str
    globalId: str
    data: NotRequired[ExecutionData]


class SkippedInstance(TypedDict):
    instance: str
    code: str
    message: str


class ExecutionList(TypedDict):
    data: list[ExecutionSummary]
    nextCursor: str | None
    skippedInstances: list[SkippedInstance]


class InstanceInfo(TypedDict):
    name: str
    kind: str
    capabilities: list[str]


class InstanceList(TypedDict):
    instances: list[InstanceInfo]


class Cancelled(TypedDict):
    cancelled: bool
    execution: ExecutionSummary | None


class Deleted(TypedDict):
    deleted: bool
    id: str
    instance: str
    globalId: str


def output_schema(shape: type[Any]) -> dict[str, Any]:
    schema: dict[str, Any] = TypeAdapter(shape).json_schema()
    return schema
