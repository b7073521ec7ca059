"""The Query root: node refetch, instances, one execution, the merged feed, statistics."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import strawberry
from strawberry import relay

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.stats import ExecutionStats, StatsDimension, resolve_stats
from execgate.api.types import (
    NODE_CLASSES,
    After,
    ExecutionConnection,
    ExecutionFilter,
    ExecutionNode,
    First,
    InstanceNode,
    WorkflowNode,
    resolve_executions,
)
from execgate.domain import stats
from execgate.domain.errors import InvalidArgument

MAX_NODES = 100


async def _resolve_many(info: Info, raw_ids: list[strawberry.ID]) -> list[relay.Node | None]:
    decoded = [ids.decode(str(raw)) for raw in raw_ids]
    by_type: dict[str, list[str]] = defaultdict(list)
    for type_name, key in decoded:
        by_type[type_name].append(key)
    resolved: dict[tuple[str, str], relay.Node | None] = {}
    for type_name, keys in by_type.items():
        cls = NODE_CLASSES[type_name]
        try:
            result = cls.resolve_nodes(info=info, node_ids=keys)
            if hasattr(result, "__await__"):
                result = await result
        except ValueError:
            raise ids.InvalidID(f"malformed {type_name} ID") from None
        for key, node in zip(keys, result, strict=True):
            resolved[(type_name, key)] = node
    return [resolved[item] for item in decoded]


@strawberry.type
class Query:
    @strawberry.field(description="Fetch any object by its global ID; null if it does not exist.")
    async def node(self, info: Info, id: strawberry.ID) -> relay.Node | None:
        return (await _resolve_many(info, [id]))[0]

    @strawberry.field(description="Fetch several objects by global ID, in order (at most 100).")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise InvalidArgument(f"at most {MAX_NODES} ids per call")
        return await _resolve_many(info, ids)

    @strawberry.field(description="Every configured instance.")
    def instances(self, info: Info) -> list[InstanceNode]:
        return [InstanceNode.from_domain(i) for i in info.context.gateway.instances()]

    @strawberry.field(description="One instance by name; null if there is none.")
    def instance(self, info: Info, name: str) -> InstanceNode | None:
        found = info.context.gateway.instance(name)
        return None if found is None else InstanceNode.from_domain(found)

    @strawberry.field(description="One execution by its global ID; null if it does not exist.")
    async def execution(self, info: Info, id: strawberry.ID) -> ExecutionNode | None:
        key = ids.execution_key(str(id))
        found = await info.context.loaders.execution_detail(key)
        if found is None:
            return None
        return ExecutionNode.from_domain(found, node_runs=info.context.node_runs)

    @strawberry.field(description="One workflow by its global ID; null if it does not exist.")
    async def workflow(self, info: Info, id: strawberry.ID) -> WorkflowNode | None:
        key = ids.workflow_key(str(id))
        found = await info.context.loaders.workflow_of(key)
        return None if found is None else WorkflowNode.build(key, found.name)

    @strawberry.field(
        description="Executions across every selected instance, newest first (by start time, "
        "or creation time for those not started), paged forward with 'first'/'after'."
    )
    async def executions(
        self,
        info: Info,
        first: First,
        after: After = strawberry.UNSET,
        filter: ExecutionFilter | None = strawberry.UNSET,
        last: Annotated[
            int | None,
            strawberry.argument(
                description="Not supported: execgate pages forward only; any value answers "
                "BACKWARD_PAGINATION_UNSUPPORTED."
            ),
        ] = strawberry.UNSET,
        before: Annotated[
            str | None,
            strawberry.argument(
                description="Not supported: execgate pages forward only; any value answers "
                "BACKWARD_PAGINATION_UNSUPPORTED."
            ),
        ] = strawberry.UNSET,
    ) -> ExecutionConnection:
        return await resolve_executions(info, first, after, filter, last=last, before=before)

    @strawberry.field(
        description="Health statistics over every execution the filter selects, exact (no "
        "sampling): overall and one bucket per group of groupBy. The window is the filter's "
        "startedAfter..startedBefore; without startedAfter, the 24 hours before startedBefore "
        "(or now). Finished executions are remembered, so asking again reads only what is new "
        "or still active."
    )
    async def execution_stats(
        self,
        info: Info,
        filter: ExecutionFilter,
        group_by: list[StatsDimension] | None = None,  # type: ignore[valid-type]
        max_buckets: int = 1000,
    ) -> ExecutionStats:
        dimensions: list[stats.StatsDimension] = list(group_by or [])
        return await resolve_stats(info, filter, dimensions, max_buckets)
