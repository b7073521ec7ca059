"""Strawberry types: Instance, Workflow, Execution, NodeExecution, built from domain objects.

Scalar fields are plain attributes copied once in ``from_domain`` (cheap to resolve); fields that
may need a backend read (nodes, data, workflow names, retry links) go through the loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.plans import KNOWN_VALUE
from execgate.domain import models
from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey
from execgate.lru import LRU

if TYPE_CHECKING:
    from execgate.api.connections import ExecutionConnection, ExecutionFilter

ExecutionStatus = strawberry.enum(
    models.ExecutionStatus, name="ExecutionStatus", description="Normalised execution status."
)
ExecutionMode = strawberry.enum(
    models.ExecutionMode, name="ExecutionMode", description="How an execution was started."
)
BackendKind = strawberry.enum(models.BackendKind, name="BackendKind")
InstanceCapability = strawberry.enum(
    models.Capability, name="InstanceCapability", description="What an instance's API can do."
)

_Connection = Annotated["ExecutionConnection", strawberry.lazy("execgate.api.connections")]
_Filter = Annotated["ExecutionFilter", strawberry.lazy("execgate.api.connections")]


@strawberry.type(name="Instance", description="One configured workflow-automation instance.")
class InstanceNode(relay.Node):
    key: relay.NodeID[str]
    name: str
    kind: BackendKind  # type: ignore[valid-type]

    @strawberry.field(description="What this instance's API supports.")
    def capabilities(self, info: Info) -> list[InstanceCapability]:  # type: ignore[valid-type]
        return sorted(info.context.gateway.capabilities(self.name), key=lambda c: c.value)

    @strawberry.field(description="This instance's executions, newest first.")
    async def executions(
        self,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
        filter: _Filter | None = strawberry.UNSET,
    ) -> _Connection:
        from execgate.api.connections import resolve_executions

        return await resolve_executions(info, first, after, filter, instance=self.name)

    @classmethod
    def from_domain(cls, instance: models.Instance) -> InstanceNode:
        return cls(key=instance.name, name=instance.name, kind=instance.kind)

    @classmethod
    def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[InstanceNode | None]:
        found = []
        for name in node_ids:
            instance = info.context.gateway.instance(name)
            found.append(None if instance is None else cls.from_domain(instance))
        return found


@strawberry.type(name="Workflow", description="A workflow of one instance.")
class WorkflowNode(relay.Node):
    key: relay.NodeID[str]
    native_id: str
    known_name: strawberry.Private[str | None]
    instance_name: strawberry.Private[str]

    @strawberry.field(
        description="The workflow's name, when the instance reports one.",
        metadata={KNOWN_VALUE: "known_name"},
    )
    def name(self, info: Info) -> str | None:
        # A name the execution already carried is answered at once (the executor reads
        # ``known_name`` itself); only an unknown one hands graphql-core an awaitable that
        # reads it through the loader.
        if self.known_name is not None:
            return self.known_name
        return self._load_name(info)  # type: ignore[return-value]

    async def _load_name(self, info: Info) -> str | None:
        workflow = await info.context.loaders.workflow_of(
            WorkflowKey(self.instance_name, self.native_id)
        )
        return None if workflow is None else workflow.name

    @strawberry.field
    def instance(self, info: Info) -> InstanceNode:
        return _instance(info, self.instance_name)

    @strawberry.field(description="This workflow's executions, newest first.")
    async def executions(
        self,
        info: Info,
        first: int | None = strawberry.UNSET,
        after: str | None = strawberry.UNSET,
        filter: _Filter | None = strawberry.UNSET,
    ) -> _Connection:
        from execgate.api.connections import resolve_executions

        workflow = WorkflowKey(self.instance_name, self.native_id)
        return await resolve_executions(info, first, after, filter, workflow=workflow)

    @classmethod
    def build(cls, key: WorkflowKey, name: str | None) -> WorkflowNode:
        return cls(
            key=key.encode(), native_id=key.native_id, known_name=name, instance_name=key.instance
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[WorkflowNode | None]:
        result: list[WorkflowNode | None] = []
        for raw in node_ids:
            key = WorkflowKey.decode(raw)
            workflow = await info.context.loaders.workflow_of(key)
            result.append(None if workflow is None else cls.build(key, workflow.name))
        return result


@strawberry.type(name="NodeExecution", description="One run of one node within an execution.")
class NodeExecutionNode(relay.Node):
    key: relay.NodeID[str]
    node_name: str
    node_type: str | None
    status: ExecutionStatus  # type: ignore[valid-type]
    status_raw: str | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    input_data: JSON | None
    output_data: JSON | None
    error_message: str | None
    retry_count: int
    run_index: int
    execution_key: strawberry.Private[ExecutionKey]

    @strawberry.field
    async def execution(self, info: Info) -> ExecutionNode:
        execution = await info.context.loaders.execution_detail(self.execution_key)
        if execution is None:
            raise ids.InvalidID("the execution of this node no longer exists")
        return ExecutionNode.from_domain(execution)

    @classmethod
    def from_domain(cls, node: models.NodeExecution) -> NodeExecutionNode:
        return cls(
            key=node.key.encode(),
            node_name=node.node_name,
            node_type=node.node_type,
            status=node.status,
            status_raw=node.status_raw,
            started_at=node.started_at,
            finished_at=node.finished_at,
            duration_ms=node.duration_ms,
            input_data=node.input_data,
            output_data=node.output_data,
            error_message=node.error_message,
            retry_count=node.retry_count,
            run_index=node.run_index,
            execution_key=node.key.execution,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[NodeExecutionNode | None]:
        result: list[NodeExecutionNode | None] = []
        for raw in node_ids:
            key = NodeExecutionKey.decode(raw)
            execution = await info.context.loaders.execution_detail(key.execution)
            match = None
            for node in (execution.node_executions or ()) if execution else ():
                if node.key == key:
                    match = cls.from_domain(node)
            result.append(match)
        return result


@strawberry.type(name="Execution", description="One execution of a workflow on one instance.")
class ExecutionNode(relay.Node):
    key: relay.NodeID[str]
    native_id: str
    status: ExecutionStatus  # type: ignore[valid-type]
    status_raw: str = strawberry.field(description="The status exactly as the backend said it.")
    finished: bool
    mode: ExecutionMode  # type: ignore[valid-type]
    mode_raw: str | None = strawberry.field(description="The trigger/mode as the backend said it.")
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_ms: int | None
    error_message: str | None
    obj: strawberry.Private[models.Execution]
    detail: strawberry.Private[models.Execution | Exception | None] = None
    """The execution read in full ahead of time (or why that read failed), when a page asked
    for node data; ``None`` leaves the read to the loader, field by field."""

    known_instance: strawberry.Private[InstanceNode | None] = None
    """The instance, when whoever built this execution had it at hand (a page does)."""

    # The executor reads ``known_*`` (see api/plans.py's KNOWN_VALUE) instead of calling
    # the resolver when the answer is not None, so a page completes without a resolver call.

    @strawberry.field(metadata={KNOWN_VALUE: "known_instance"})
    def instance(self, info: Info) -> InstanceNode:
        return self.known_instance or _instance(info, self.obj.instance)

    @property
    def known_workflow(self) -> WorkflowNode:
        return WorkflowNode.build(self.obj.workflow_key, self.obj.workflow_name)

    @strawberry.field(metadata={KNOWN_VALUE: "known_workflow"})
    def workflow(self) -> WorkflowNode:
        return self.known_workflow

    # These resolvers are plain functions: when the execution was read in full (n8n lists with
    # includeData, the cache), they answer at once instead of scheduling a coroutine per field;
    # otherwise they hand graphql-core an awaitable that reads the detail through the loader.

    def _from_detail(self, info: Info, pick: Callable[[models.Execution], Any]) -> Any:
        if self.obj.node_executions is not None:
            return pick(self.obj)
        if isinstance(self.detail, Exception):
            raise self.detail
        if self.detail is not None:
            return pick(self.detail)

        async def load() -> Any:
            detail = await info.context.loaders.execution_detail(self.obj.key)
            return None if detail is None else pick(detail)

        return load()

    @strawberry.field(description="The workflow's input (the trigger's output).")
    def input_data(self, info: Info) -> JSON | None:
        return self._from_detail(info, _input_data)  # type: ignore[no-any-return]

    @strawberry.field(description="The workflow's output (the last node's output).")
    def output_data(self, info: Info) -> JSON | None:
        return self._from_detail(info, _output_data)  # type: ignore[no-any-return]

    @property
    def known_node_executions(self) -> list[NodeExecutionNode] | None:
        """The node runs when the execution is at hand in full; ``None`` when they need a read
        (or the read ahead failed, which the resolver raises)."""
        source = self.obj if self.obj.node_executions is not None else self.detail
        return _node_executions(source) if isinstance(source, models.Execution) else None

    @strawberry.field(
        description="Every node run, in execution order.",
        metadata={KNOWN_VALUE: "known_node_executions"},
    )
    def node_executions(self, info: Info) -> list[NodeExecutionNode]:
        return self._from_detail(info, _node_executions)  # type: ignore[no-any-return]

    @strawberry.field(description="The execution this one retried.")
    async def retry_of(self, info: Info) -> ExecutionNode | None:
        return await _linked(info, self.obj.instance, self.obj.retry_of)

    @strawberry.field(description="The retry of this execution that succeeded.")
    async def retry_success(self, info: Info) -> ExecutionNode | None:
        return await _linked(info, self.obj.instance, self.obj.retry_success_id)

    @strawberry.field(
        description="The retry chain this execution belongs to, from the original to the latest "
        "attempt the links reach (retryOf upwards, retrySuccess downwards); itself included."
    )
    async def retries(self, info: Info) -> list[ExecutionNode]:
        chain = [self.obj]
        seen = {self.obj.native_id}
        current = self.obj
        while current.retry_of and current.retry_of not in seen:
            parent = await info.context.loaders.execution_detail(
                ExecutionKey(current.instance, current.retry_of)
            )
            if parent is None:
                break
            chain.insert(0, parent)
            seen.add(parent.native_id)
            current = parent
        current = self.obj
        while current.retry_success_id and current.retry_success_id not in seen:
            child = await info.context.loaders.execution_detail(
                ExecutionKey(current.instance, current.retry_success_id)
            )
            if child is None:
                break
            chain.append(child)
            seen.add(child.native_id)
            current = child
        return [ExecutionNode.from_domain(e) for e in chain]

    @classmethod
    def from_domain(
        cls,
        execution: models.Execution,
        detail: models.Execution | Exception | None = None,
        instance: InstanceNode | None = None,
    ) -> ExecutionNode:
        return cls(
            key=execution.key.encode(),
            native_id=execution.native_id,
            status=execution.status,
            status_raw=execution.status_raw,
            finished=execution.finished,
            mode=execution.mode,
            mode_raw=execution.mode_raw,
            created_at=execution.created_at,
            started_at=execution.started_at,
            finished_at=execution.finished_at,
            duration_ms=execution.duration_ms,
            error_message=execution.error_message,
            obj=execution,
            detail=detail,
            known_instance=instance,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ExecutionNode | None]:
        keys = [ExecutionKey.decode(raw) for raw in node_ids]
        found = await info.context.loaders.executions(keys)
        return [None if e is None else cls.from_domain(e) for e in found]


def _input_data(execution: models.Execution) -> Any:
    return execution.input_data


def _output_data(execution: models.Execution) -> Any:
    return execution.output_data


class NodeRunsMemo:
    """The API node runs of recently read executions, converted once rather than per request.

    A finished execution's node runs come back as the same tuple on every poll (the execution
    cache holds it), so its conversion is kept, keyed by the tuple's identity: the tuple is
    kept with its entry, so that identity cannot be reused meanwhile. Bounded, least recently
    used first out. The node objects are shared between requests; nothing changes them.
    """

    def __init__(self, size: int) -> None:
        self._runs: LRU[int, tuple[tuple[models.NodeExecution, ...], list[Any]]] = LRU(size)

    def __len__(self) -> int:
        return len(self._runs)

    def of(self, runs: tuple[models.NodeExecution, ...]) -> list[NodeExecutionNode]:
        entry = self._runs.get(id(runs))
        if entry is not None and entry[0] is runs:
            return list(entry[1])
        converted = [NodeExecutionNode.from_domain(n) for n in runs]
        self._runs.put(id(runs), (runs, converted))
        return list(converted)


NODE_RUNS = NodeRunsMemo(256)
"""Enough for the pages a dashboard polls (W4 is 100 executions); each entry keeps its
execution's node data alive, so it stays small."""


def _node_executions(execution: models.Execution) -> list[NodeExecutionNode]:
    runs = execution.node_executions
    return NODE_RUNS.of(runs) if runs else []


async def _linked(info: Info, instance: str, native_id: str | None) -> ExecutionNode | None:
    if not native_id:
        return None
    execution = await info.context.loaders.execution_detail(ExecutionKey(instance, native_id))
    return None if execution is None else ExecutionNode.from_domain(execution)


def _instance(info: Info, name: str) -> InstanceNode:
    instance = info.context.gateway.instance(name)
    if instance is None:
        raise ids.InvalidID(f"no instance named {name!r}")
    return InstanceNode.from_domain(instance)


NODE_CLASSES: dict[str, Any] = {
    "Instance": InstanceNode,
    "Workflow": WorkflowNode,
    "Execution": ExecutionNode,
    "NodeExecution": NodeExecutionNode,
}
