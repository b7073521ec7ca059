"""Reading one page of the executions connection: the filter, node data, the details ahead.

The connection's GraphQL types live in ``api/types.py`` (they and the nodes refer to each
other); this module holds what a page needs before they are built, and imports none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import datetime

from graphql import get_named_type
from graphql.execution.values import VariableValues

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.walk import Walker
from execgate.api.walk import wants_detail as walk_wants_detail
from execgate.domain.errors import InvalidArgument
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import Execution, ExecutionStatus
from execgate.service.feed import FeedPage
from execgate.service.gateway import FeedFilter

"""Execution fields that need the execution read in full."""


class BackwardPaginationUnsupported(InvalidArgument):
    code = "BACKWARD_PAGINATION_UNSUPPORTED"


def _aware(name: str, moment: datetime | None) -> datetime | None:
    """``moment`` when it says its offset: a time without one names no instant."""
    if moment is not None and moment.utcoffset() is None:
        raise InvalidArgument(
            f"filter.{name} needs a time with its offset, such as 2026-12-01T00:00:00Z or "
            "2026-12-01T09:30:00+01:00"
        )
    return moment


def to_filter(
    *,
    instances: Collection[str] | None,
    workflow_id: str | None,
    statuses: Collection[ExecutionStatus] | None,
    started_after: datetime | None,
    started_before: datetime | None,
    instance: str | None = None,
    workflow: WorkflowKey | None = None,
) -> FeedFilter:
    """The service's filter for a client's ``ExecutionFilter`` (its fields given one by one),
    read under one instance (``Instance.executions``) or one workflow (``Workflow.executions``).
    """
    names = tuple(instances) if instances else None
    started_after = _aware("startedAfter", started_after)
    started_before = _aware("startedBefore", started_before)
    workflow_key = ids.workflow_key(workflow_id) if workflow_id else workflow
    if instance is not None:
        # Instance.executions: only that instance, and nothing if the filter excludes it.
        excluded = names is not None and instance not in names
        names = () if excluded else (instance,)
    if workflow is not None and workflow_key != workflow:
        raise InvalidArgument("filter.workflowId conflicts with the workflow being read")
    return FeedFilter(
        instances=names,
        workflow=workflow_key,
        statuses=frozenset(statuses or ()),
        started_after=started_after or None,
        started_before=started_before or None,
    )


def wants_detail(info: Info) -> bool:
    """Whether the query asks for node data of the listed executions (edges.node or nodes),
    decided by the cost estimate's own walk (``api/walk.py``) over the operation's syntax tree
    with its variables: ``@skip``/``@include`` and fragments count exactly as they were priced.
    (strawberry's ``selected_fields`` would convert the whole selection into its own objects
    first, which costs more than the walk.)
    """
    raw = info._raw_info
    variables = raw.variable_values
    if not isinstance(variables, VariableValues):  # graphql-core hands resolvers the dict
        variables = VariableValues(sources={}, coerced=dict(variables))
    walker = Walker(raw.schema, raw.fragments, variables)
    connection = get_named_type(raw.return_type)
    return any(
        walk_wants_detail(walker, node.selection_set, connection) for node in raw.field_nodes
    )


async def read_details(info: Info, page: FeedPage) -> dict[ExecutionKey, Execution | Exception]:
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
