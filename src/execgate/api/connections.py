"""The executions connection: Relay edges and page info over the merged feed."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from strawberry import relay

from execgate.api import ids
from execgate.api.context import Info, PartialError
from execgate.api.plans import KNOWN_VALUE
from execgate.api.types import ExecutionNode, ExecutionStatus, InstanceNode
from execgate.domain.errors import InvalidArgument
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import Execution
from execgate.service.feed import FeedEdge, FeedPage
from execgate.service.gateway import FeedFilter

T = TypeVar("T")

_DETAIL_FIELDS = frozenset({"nodeExecutions", "inputData", "outputData"})


class BackwardPaginationUnsupported(InvalidArgument):
    code = "BACKWARD_PAGINATION_UNSUPPORTED"


@strawberry.input(description="Narrows the executions feed; every field is optional.")
class ExecutionFilter:
    instances: list[str] | None = strawberry.UNSET
    workflow_id: strawberry.ID | None = strawberry.UNSET
    status: list[ExecutionStatus] | None = strawberry.UNSET  # type: ignore[valid-type]
    started_after: datetime | None = strawberry.UNSET
    started_before: datetime | None = strawberry.UNSET


@strawberry.type(description="An instance left out of this page because it failed to answer.")
class SkippedInstance:
    instance: str
    code: str
    message: str


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


def _to_filter(
    raw: ExecutionFilter | None, *, instance: str | None, workflow: WorkflowKey | None
) -> FeedFilter:
    instances: tuple[str, ...] | None = None
    workflow_key = workflow
    statuses: frozenset[object] = frozenset()
    after = before = None
    if raw is not None:
        if raw.instances:
            instances = tuple(raw.instances)
        if raw.workflow_id:
            workflow_key = ids.workflow_key(str(raw.workflow_id))
        if raw.status:
            statuses = frozenset(raw.status)
        after = raw.started_after or None
        before = raw.started_before or None
    if instance is not None:
        # Instance.executions: only that instance, and nothing if the filter excludes it.
        excluded = instances is not None and instance not in instances
        instances = () if excluded else (instance,)
    if workflow is not None and workflow_key != workflow:
        raise InvalidArgument("filter.workflowId conflicts with the workflow being read")
    return FeedFilter(
        instances=instances,
        workflow=workflow_key,
        statuses=frozenset(statuses),  # type: ignore[arg-type]
        started_after=after,
        started_before=before,
    )


def _fields(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, Any]
) -> list[FieldNode]:
    """The fields of a selection set, with fragments (inline and named) flattened."""
    out: list[FieldNode] = []
    for selection in selection_set.selections if selection_set is not None else ():
        if isinstance(selection, FieldNode):
            out.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            out.extend(_fields(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                out.extend(_fields(fragment.selection_set, fragments))
    return out


def _wants_detail(info: Info) -> bool:
    """Whether the query asks for node data of the listed executions (edges.node or nodes).

    Read from the operation's syntax tree itself: strawberry's ``selected_fields`` converts
    the whole selection into its own objects first, which cost more than the walk.
    """
    raw = info._raw_info
    fragments = raw.fragments
    for connection in raw.field_nodes:
        for field in _fields(connection.selection_set, fragments):
            name = field.name.value
            if name == "nodes":
                nodes = [field]
            elif name == "edges":
                nodes = [
                    f for f in _fields(field.selection_set, fragments) if f.name.value == "node"
                ]
            else:
                continue
            for node in nodes:
                if any(
                    f.name.value in _DETAIL_FIELDS for f in _fields(node.selection_set, fragments)
                ):
                    return True
    return False


async def _read_details(info: Info, page: FeedPage) -> dict[ExecutionKey, Execution | Exception]:
    """Every listed execution's full read, through the loader, before the fields resolve.

    The loader batches them either way; reading them here lets each execution's node fields
    answer at once instead of each awaiting its own share of the batch. A failed read is kept
    and raised by the fields that need it, exactly as a read of their own would have failed.
    """
    keys = [edge.node.key for edge in page.edges if edge.node.node_executions is None]
    if not keys:
        return {}
    loader = info.context.loaders.execution  # none of these was listed in full
    found = await asyncio.gather(*(loader.load(key) for key in keys), return_exceptions=True)
    details: dict[ExecutionKey, Execution | Exception] = {}
    for key, result in zip(keys, found, strict=True):
        if isinstance(result, Execution | Exception):
            details[key] = result
        elif isinstance(result, BaseException):
            raise result
    return details


def _instances(info: Info, names: set[str]) -> dict[str, InstanceNode]:
    """The page's instances, looked up once each (an unknown one is left to the resolver)."""
    found = {name: info.context.gateway.instance(name) for name in names}
    return {name: InstanceNode.from_domain(i) for name, i in found.items() if i is not None}


def _given(value: T | None) -> T | None:
    """An argument the client left out arrives as UNSET: treat it as null."""
    return None if value is strawberry.UNSET else value


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
    first, last = _given(first), _given(last)
    after, before = _given(after), _given(before)
    raw_filter = _given(raw_filter)
    if last is not None or before is not None:
        raise BackwardPaginationUnsupported("execgate pages forward only: use 'first' and 'after'")
    feed_filter = _to_filter(raw_filter, instance=instance, workflow=workflow)
    context = info.context
    wants_detail = _wants_detail(info)
    page = await context.gateway.feed(
        feed_filter, first=first, after=after, include_nodes=wants_detail
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
    for edge in page.edges:
        context.loaders.prime(edge.node)
    details = await _read_details(info, page) if wants_detail else {}
    instances = _instances(info, {edge.node.instance for edge in page.edges})
    edges = [
        ExecutionEdge(
            node=ExecutionNode.from_domain(
                edge.node, details.get(edge.node.key), instances.get(edge.node.instance)
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
        feed_filter=feed_filter,
    )
