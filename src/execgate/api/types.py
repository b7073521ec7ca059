"""Strawberry types: the nodes (Instance, Workflow, Execution, NodeExecution) and the executions
connection, built from domain objects.

The schema's types refer to each other in a cycle (an instance's executions, an execution's
instance), so they live in this one module; what a page reads before they are built is in
``api/connections.py``.

Scalar fields are plain attributes copied once in ``from_domain`` (cheap to resolve); fields that
may need a backend read (nodes, data, workflow names, retry links) go through the loaders.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from execgate.api import ids
from execgate.api.connections import (
    BackwardPaginationUnsupported,
    read_details,
    to_filter,
    wants_detail,
)
from execgate.api.context import Info, NodeRunsMemo, PartialError
from execgate.api.plans import KNOWN_VALUE
from execgate.domain import models
from execgate.domain.errors import shown
from execgate.domain.keys import ExecutionKey, NodeExecutionKey, WorkflowKey
from execgate.service import health
from execgate.service.feed import FeedEdge, FeedPage
from execgate.service.gateway import FeedFilter

T = TypeVar("T")
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


First = Annotated[
    int,
    strawberry.argument(
        description="How many executions to return: 1 to the gateway's [limits] max_first "
        "(100 unless configured). Required: execgate pages forward only."
    ),
]
After = Annotated[
    str | None,
    strawberry.argument(description="A page's endCursor: the page after it (null: the first)."),
]


CircuitState = strawberry.enum(
    health.CircuitState,
    name="CircuitState",
    description="An instance's circuit breaker: CLOSED (requests flow), OPEN (skipped at once "
    "after failures in a row, until a cool-down ends), HALF_OPEN (one probe request decides).",
)


@strawberry.type(name="InstanceHealth", description="How the gateway sees an instance now.")
class InstanceHealthNode:
    state: CircuitState  # type: ignore[valid-type]
    since: datetime = strawberry.field(description="When the circuit entered this state.")
    last_error: str | None = strawberry.field(
        description="The last failure the circuit counted (null before any)."
    )


@strawberry.input(description="Narrows the executions feed; every field is optional.")
class ExecutionFilter:
    instances: list[str] | None = strawberry.UNSET
    workflow_id: strawberry.ID | None = strawberry.UNSET
    status: list[ExecutionStatus] | None = strawberry.UNSET  # type: ignore[valid-type]
    started_after: datetime | None = strawberry.UNSET
    started_before: datetime | None = strawberry.UNSET


@strawberry.type(name="Instance", description="One configured workflow-automation instance.")
class InstanceNode(relay.Node):
    key: relay.NodeID[str]
    name: str
    kind: BackendKind  # type: ignore[valid-type]

    @strawberry.field(description="What this instance's API supports.")
    def capabilities(self, info: Info) -> list[InstanceCapability]:  # type: ignore[valid-type]
        return sorted(info.context.gateway.capabilities(self.name), key=lambda c: c.value)

    @strawberry.field(
        description="Its circuit breaker's state: whether the gateway sends it requests now "
        "(null when the gateway keeps no circuit for it)."
    )
    def health(self, info: Info) -> InstanceHealthNode | None:
        found = info.context.gateway.health(self.name)
        if found is None:
            return None
        return InstanceHealthNode(state=found.state, since=found.since, last_error=found.last_error)

    @strawberry.field(description="This instance's executions, newest first.")
    async def executions(
        self,
        info: Info,
        first: First,
        after: After = strawberry.UNSET,
        filter: ExecutionFilter | None = strawberry.UNSET,
    ) -> ExecutionConnection:
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
        first: First,
        after: After = strawberry.UNSET,
        filter: ExecutionFilter | None = strawberry.UNSET,
    ) -> ExecutionConnection:
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

    @strawberry.field(
        description="The execution this node run belongs to; null when it could not be read "
        "(an error on this path says why) or no longer exists."
    )
    async def execution(self, info: Info) -> ExecutionNode | None:
        execution = await info.context.loaders.execution_detail(self.execution_key)
        return None if execution is None else ExecutionNode.from_domain(execution)

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
    node_runs: strawberry.Private[NodeRunsMemo | None] = None
    """Where its node runs, once converted, are remembered (``Context.node_runs``)."""

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
        return self._node_runs(source) if isinstance(source, models.Execution) else None

    def _node_runs(self, execution: models.Execution) -> list[NodeExecutionNode]:
        return node_executions(execution, self.node_runs)

    @strawberry.field(
        description="Every node run, in execution order; null when they could not be read "
        "(an error on this path says why) or the execution is gone.",
        metadata={KNOWN_VALUE: "known_node_executions"},
    )
    def node_executions(self, info: Info) -> list[NodeExecutionNode] | None:
        return self._from_detail(info, self._node_runs)  # type: ignore[no-any-return]

    @strawberry.field(description="The execution this one retried.")
    async def retry_of(self, info: Info) -> ExecutionNode | None:
        return await _linked(info, self.obj.instance, self.obj.retry_of)

    @strawberry.field(description="The retry of this execution that succeeded.")
    async def retry_success(self, info: Info) -> ExecutionNode | None:
        return await _linked(info, self.obj.instance, self.obj.retry_success_id)

    @strawberry.field(
        description="The retry chain this execution belongs to, from the original to the latest "
        "attempt the links reach (retryOf upwards, retrySuccess downwards); itself included. "
        "Null when a link could not be read (an error on this path says why)."
    )
    async def retries(self, info: Info) -> list[ExecutionNode] | None:
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
        node_runs: NodeRunsMemo | None = None,
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
            node_runs=node_runs,
        )

    @classmethod
    async def resolve_nodes(  # type: ignore[override]
        cls, *, info: Info, node_ids: Iterable[str], required: bool = False
    ) -> list[ExecutionNode | None]:
        keys = [ExecutionKey.decode(raw) for raw in node_ids]
        found = await info.context.loaders.executions(keys)
        runs = info.context.node_runs
        # A failed read stays in its place: graphql-core raises it at that item's path, so
        # ``nodes(ids:)`` answers every other id.
        answered: list[Any] = [
            e if e is None or isinstance(e, Exception) else cls.from_domain(e, node_runs=runs)
            for e in found
        ]
        return answered


def _input_data(execution: models.Execution) -> Any:
    return execution.input_data


def _output_data(execution: models.Execution) -> Any:
    return execution.output_data


def node_executions(
    execution: models.Execution, memo: NodeRunsMemo | None = None
) -> list[NodeExecutionNode]:
    """An execution's node runs as API objects (converted once per execution with ``memo``)."""
    runs = execution.node_executions
    if not runs:
        return []
    convert = NodeExecutionNode.from_domain
    return [convert(n) for n in runs] if memo is None else memo.of(runs, convert)


async def _linked(info: Info, instance: str, native_id: str | None) -> ExecutionNode | None:
    if not native_id:
        return None
    execution = await info.context.loaders.execution_detail(ExecutionKey(instance, native_id))
    return None if execution is None else ExecutionNode.from_domain(execution)


def _instance(info: Info, name: str) -> InstanceNode:
    instance = info.context.gateway.instance(name)
    if instance is None:
        raise ids.InvalidID(f"no instance named {shown(name)}")
    return InstanceNode.from_domain(instance)


@strawberry.type(description="An instance left out of this page because it failed to answer.")
class SkippedInstance:
    instance: str
    code: str
    message: str


@strawberry.type(
    description="An execution an instance listed that execgate could not read (a record that "
    "breaks the backend's API): left out of the page, so it costs no other execution."
)
class SkippedExecution:
    instance: str
    native_id: str | None = strawberry.field(
        description="Its id on the instance, when even that could be read."
    )
    reason: str


@strawberry.type
class ExecutionEdge:
    node: ExecutionNode
    feed_edge: strawberry.Private[FeedEdge]
    page: strawberry.Private[FeedPage]

    @property
    def known_cursor(self) -> str:
        return self.page.cursor(self.feed_edge.state)

    @strawberry.field(metadata={KNOWN_VALUE: "known_cursor"})
    def cursor(self) -> str:
        return self.known_cursor


@strawberry.type
class ExecutionConnection:
    edges: list[ExecutionEdge]
    page_info: relay.PageInfo
    skipped_instances: list[SkippedInstance] = strawberry.field(
        description="Instances that failed and are missing from this page; the cursor resumes "
        "them on the next page."
    )
    skipped_executions: list[SkippedExecution] = strawberry.field(
        description="Records the instances listed for this page that could not be read, left "
        "out of it (the other executions are served)."
    )
    feed_filter: strawberry.Private[FeedFilter]

    @property
    def known_nodes(self) -> list[ExecutionNode]:
        return [edge.node for edge in self.edges]

    @strawberry.field(
        description="The executions of this page (the edges' nodes).",
        metadata={KNOWN_VALUE: "known_nodes"},
    )
    def nodes(self) -> list[ExecutionNode]:
        return self.known_nodes

    @strawberry.field(
        description="Exact number of executions matching the filter across the selected "
        "instances, or null when an instance does not report totals."
    )
    async def total_count(self, info: Info) -> int | None:
        return await info.context.gateway.count(self.feed_filter)


def _given(value: T | None) -> T | None:
    """An argument the client left out arrives as UNSET: treat it as null."""
    return None if value is strawberry.UNSET else value


def _page_instances(info: Info, names: set[str]) -> dict[str, InstanceNode]:
    """The page's instances, looked up once each (an unknown one is left to the resolver)."""
    found = {name: info.context.gateway.instance(name) for name in names}
    return {name: InstanceNode.from_domain(i) for name, i in found.items() if i is not None}


async def resolve_executions(
    info: Info,
    first: int | None,
    after: str | None,
    raw_filter: ExecutionFilter | None,
    *,
    last: int | None = None,
    before: str | None = None,
    instance: str | None = None,
    workflow: WorkflowKey | None = None,
) -> ExecutionConnection:
    """One page of the merged feed (``Query.executions``, ``Instance.executions``,
    ``Workflow.executions``)."""
    first, last = _given(first), _given(last)
    after, before = _given(after), _given(before)
    raw = _given(raw_filter)
    if last is not None or before is not None:
        raise BackwardPaginationUnsupported("execgate pages forward only: use 'first' and 'after'")
    feed_filter = to_filter(
        instances=_given(raw.instances) if raw else None,
        workflow_id=str(raw.workflow_id) if raw and raw.workflow_id else None,
        statuses=_given(raw.status) if raw else None,
        started_after=_given(raw.started_after) if raw else None,
        started_before=_given(raw.started_before) if raw else None,
        instance=instance,
        workflow=workflow,
    )
    context = info.context
    detail_wanted = wants_detail(info)
    page = await context.gateway.feed(
        feed_filter, first=first, after=after, include_nodes=detail_wanted
    )
    for skipped in page.skipped:
        context.partial_errors.append(
            PartialError(
                path=tuple(info.path.as_list()),
                message=skipped.error.message,
                code=skipped.error.code,
                instance=skipped.instance,
            )
        )
    for odd in page.unreadable:
        named = "" if odd.native_id is None else f" ({shown(odd.native_id)})"
        context.partial_errors.append(
            PartialError(
                path=tuple(info.path.as_list()),
                message=f"instance {odd.instance!r} listed an execution{named} that cannot be "
                f"read, left out of this page: {odd.reason}",
                code="UPSTREAM_BAD_RESPONSE",
                instance=odd.instance,
            )
        )
    for edge in page.edges:
        context.loaders.prime(edge.node)
    details = await read_details(info, page) if detail_wanted else {}
    instances = _page_instances(info, {edge.node.instance for edge in page.edges})
    runs = context.node_runs
    edges = [
        ExecutionEdge(
            node=ExecutionNode.from_domain(
                edge.node, details.get(edge.node.key), instances.get(edge.node.instance), runs
            ),
            feed_edge=edge,
            page=page,
        )
        for edge in page.edges
    ]
    start = page.cursor(page.edges[0].state) if page.edges else None
    end = page.cursor(page.end_state) if page.edges else None
    return ExecutionConnection(
        edges=edges,
        page_info=relay.PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=start,
            end_cursor=end,
        ),
        skipped_instances=[
            SkippedInstance(instance=s.instance, code=s.error.code, message=s.error.message)
            for s in page.skipped
        ],
        skipped_executions=[
            SkippedExecution(instance=u.instance, native_id=u.native_id, reason=u.reason)
            for u in page.unreadable
        ],
        feed_filter=feed_filter,
    )


NODE_CLASSES: dict[str, Any] = {
    "Instance": InstanceNode,
    "Workflow": WorkflowNode,
    "Execution": ExecutionNode,
    "NodeExecution": NodeExecutionNode,
}
