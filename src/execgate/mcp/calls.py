"""What each tool does, through the caller's view of the gateway (``Gateway.scoped``).

Reads ask the service for the merged feed (``Gateway.feed``) or for executions by id
(``Gateway.get_executions``); cancel, retry and delete go through ``Gateway.perform``, which
checks the caller's actions, refuses what the GraphQL mutations refuse and writes the audit
line. A refusal is a ``ToolFailure`` with execgate's code; the server turns it, and every
``ExecgateError``, into a tool error.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from execgate.domain import ids
from execgate.domain.access import Action
from execgate.domain.errors import ExecgateError, InvalidArgument, NotFound, UnknownInstance
from execgate.domain.keys import ExecutionKey, WorkflowKey
from execgate.domain.models import Execution, ExecutionStatus
from execgate.mcp import render
from execgate.mcp.answers import (
    Cancelled,
    Deleted,
    ExecutionList,
    ExecutionSummary,
    InstanceList,
)
from execgate.mcp.arguments import (
    STATUSES,
    ActionArguments,
    GetExecutionArguments,
    ListExecutionsArguments,
    NoArguments,
    RetryExecutionArguments,
)
from execgate.service.actions import ActionTarget
from execgate.service.gateway import FeedFilter, Gateway

STOPPED = frozenset(s for s in ExecutionStatus if s.is_finished)
NOT_STOPPED = frozenset(ExecutionStatus) - STOPPED


class ToolFailure(ExecgateError):
    """A refusal with execgate's code (``code`` is per instance here, not per class)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Call:
    """One tool call: the caller's view of the gateway and the ``[mcp]`` default instance."""

    gateway: Gateway
    default_instance: str | None = None

    def instance_of(self, named: str | None) -> str | None:
        return named if named is not None else self.default_instance


# --- list_instances ---------------------------------------------------------------------------


async def list_instances(call: Call, args: NoArguments) -> InstanceList:
    gateway = call.gateway
    return {
        "instances": [
            {
                "name": instance.name,
                "kind": instance.kind.value,
                "capabilities": sorted(
                    c.value.lower() for c in gateway.capabilities(instance.name)
                ),
            }
            for instance in gateway.instances()
        ]
    }


# --- list_executions --------------------------------------------------------------------------


def feed_filter(call: Call, args: ListExecutionsArguments) -> FeedFilter | None:
    """The service's filter for the call, or ``None`` when its filters exclude every status
    (``finished: true`` with ``status: "running"``): an empty page, read from nobody."""
    statuses = frozenset(ExecutionStatus)
    if args.status is not None:
        statuses = frozenset({STATUSES[args.status]})
    if args.finished is not None:
        statuses &= STOPPED if args.finished else NOT_STOPPED
    if not statuses:
        return None
    wanted = frozenset() if statuses == frozenset(ExecutionStatus) else statuses
    instance = args.instance
    workflow: WorkflowKey | None = None
    workflow_id: str | None = None
    if args.workflow_id is not None:
        workflow = _workflow_key(args.workflow_id)
        if workflow is not None and instance is not None and workflow.instance != instance:
            raise InvalidArgument(
                f"'workflowId' names a workflow of instance {workflow.instance!r}, "
                f"not of {instance!r}"
            )
        if workflow is None and instance is not None:
            workflow = WorkflowKey(instance, args.workflow_id)
        if workflow is None:
            workflow_id = args.workflow_id
    return FeedFilter(
        instances=None if instance is None else (instance,),
        workflow=workflow,
        statuses=wanted,
        workflow_id=workflow_id,
    )


def _workflow_key(raw: str) -> WorkflowKey | None:
    """The workflow an execgate global ID names; ``None`` for anything else (a native id)."""
    try:
        return ids.workflow_key(raw)
    except ids.InvalidID:
        return None


def list_cost(call: Call, args: ListExecutionsArguments) -> int:
    found = feed_filter(call, args)
    if found is None:
        return 0
    if args.instance is not None and call.gateway.instance(args.instance) is None:
        return 0  # refused as an unknown instance by the read itself
    return call.gateway.estimate_feed(
        found, first=args.limit, resuming=args.cursor is not None, include_nodes=args.include_data
    )


async def list_executions(call: Call, args: ListExecutionsArguments) -> ExecutionList:
    found = feed_filter(call, args)
    if found is None:
        return {"data": [], "nextCursor": None, "skippedInstances": []}
    gateway = call.gateway
    page = await gateway.feed(
        found, first=args.limit, after=args.cursor, include_nodes=args.include_data
    )
    executions = [edge.node for edge in page.edges]
    if args.include_data:
        details = await _details(gateway, [e for e in executions if e.node_executions is None])
        executions = [details.get(e.key, e) for e in executions]
        kinds = gateway.kinds()
        items = [render.with_data(e, kinds[e.instance]) for e in executions]
    else:
        items = [render.summary(e) for e in executions]
    return {
        "data": items,
        "nextCursor": page.cursor(page.end_state) if page.has_next_page else None,
        "skippedInstances": [
            {"instance": s.instance, "code": s.error.code, "message": s.error.message}
            for s in page.skipped
        ],
    }


async def _details(gateway: Gateway, listed: list[Execution]) -> Mapping[ExecutionKey, Execution]:
    """The listed executions read in full (one batch per instance, concurrently)."""
    by_instance: dict[str, list[str]] = defaultdict(list)
    for execution in listed:
        by_instance[execution.instance].append(execution.native_id)
    names = list(by_instance)
    answers = await asyncio.gather(
        *(gateway.get_executions(n, by_instance[n], include_nodes=True) for n in names)
    )
    return {e.key: e for answer in answers for e in answer.values()}


# --- get_execution ----------------------------------------------------------------------------


def execution_key(call: Call, instance: str | None, raw_id: int | str) -> ExecutionKey:
    """The execution a call names: a global ID, or an id on the named (or default) instance.

    Raises ``InvalidID`` when neither names one, ``UnknownInstance`` for an instance this
    caller cannot see (exactly as for one that is not configured).
    """
    text = str(raw_id)
    key = _global_key(text)
    if key is not None:
        if instance is not None and key.instance != instance:
            raise InvalidArgument(
                f"'id' is an execution of instance {key.instance!r}, not of {instance!r}"
            )
        return key
    named = call.instance_of(instance)
    if named is None:
        raise ids.InvalidID(
            f"{text!r} is not an execgate global ID: name its 'instance' "
            "(list_instances shows them)"
        )
    if call.gateway.instance(named) is None:
        known = ", ".join(i.name for i in call.gateway.instances()) or "none"
        raise UnknownInstance(f"unknown instance: {named}; known: {known}")
    return ExecutionKey(named, text)


def _global_key(text: str) -> ExecutionKey | None:
    try:
        return ids.execution_key(text)
    except ids.InvalidID:
        return None


async def read_one(gateway: Gateway, key: ExecutionKey, *, nodes: bool) -> Execution | None:
    found = await gateway.get_executions(key.instance, [key.native_id], include_nodes=nodes)
    return found.get(key.native_id)


async def get_execution(call: Call, args: GetExecutionArguments) -> ExecutionSummary:
    key = execution_key(call, args.instance, args.id)
    found = await read_one(call.gateway, key, nodes=args.include_data)
    if found is None:
        raise NotFound(f"no execution {key.native_id!r} on instance {key.instance!r}")
    if not args.include_data:
        return render.summary(found)
    return render.with_data(found, call.gateway.kinds()[key.instance])


# --- cancel, retry, delete --------------------------------------------------------------------


def action_target(call: Call, instance: str | None, raw_id: int | str) -> ActionTarget:
    """The execution an action names, as ``Gateway.perform`` takes it: an ID that names none
    is refused there (``INVALID_ID``), an instance the caller cannot see too (``NOT_FOUND``),
    each with its audit line."""
    text = str(raw_id)
    key = _global_key(text)
    if key is not None:
        if instance is not None and key.instance != instance:
            problem = f"'id' is an execution of instance {key.instance!r}, not of {instance!r}"
            return ActionTarget(text, None, problem)
        return ActionTarget(text, key)
    named = call.instance_of(instance)
    if named is None:
        return ActionTarget(
            text,
            None,
            f"{text!r} is not an execgate global ID: name its 'instance' "
            "(list_instances shows them)",
        )
    key = ExecutionKey(named, text)
    return ActionTarget(ids.execution_id(key), key)


async def _perform(
    call: Call, action: Action, args: ActionArguments, *, force: bool = False
) -> tuple[ExecutionKey, Execution | None]:
    gateway = call.gateway

    async def read(key: ExecutionKey) -> Execution | None:
        return await read_one(gateway, key, nodes=False)

    target = action_target(call, args.instance, args.id)
    outcome = await gateway.perform(action, target, read, force=force)
    if outcome.error is not None:
        raise ToolFailure(outcome.error.code.value, outcome.error.message)
    assert outcome.key is not None
    return outcome.key, outcome.retry


async def cancel_execution(call: Call, args: ActionArguments) -> Cancelled:
    key, _ = await _perform(call, Action.CANCEL, args)
    try:
        after = await read_one(call.gateway, key, nodes=False)
    except ExecgateError:
        after = None  # cancelled all the same; its state could not be read back
    return {"cancelled": True, "execution": None if after is None else render.summary(after)}


async def retry_execution(call: Call, args: RetryExecutionArguments) -> ExecutionSummary:
    key, retry = await _perform(call, Action.RETRY, args, force=args.force)
    if retry is None:  # pragma: no cover - a retry that succeeded always names its execution
        raise ToolFailure("OUTCOME_UNKNOWN", f"the retry of {key.native_id!r} named no execution")
    found = render.summary(retry)
    if found["retryOf"] is None:
        found["retryOf"] = key.native_id  # it is a retry of that execution, said or not
    return found


async def delete_execution(call: Call, args: ActionArguments) -> Deleted:
    key, _ = await _perform(call, Action.DELETE, args)
    return {
        "deleted": True,
        "id": key.native_id,
        "instance": key.instance,
        "globalId": ids.execution_id(key),
    }
