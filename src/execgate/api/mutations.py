"""Mutations: cancel, retry and delete, one payload shape each, errors as data.

Each payload carries ``errors: [ExecutionActionError!]!`` (empty on success). After an action,
the loader's copy of the execution is dropped, so the payload shows the state after the action.

The client's scope is enforced by the gateway (``Gateway.perform``): an action the client was
not granted answers ``FORBIDDEN`` and no backend is asked anything, not even for the payload.
Every attempt, whatever its outcome, leaves one line in the audit trail, written by the
service: ``Gateway.perform`` for the attempts it runs, ``Gateway.refused`` for those refused
here (too many ids at once).
"""

from __future__ import annotations

import asyncio

import strawberry

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.types import ExecutionNode
from execgate.domain.access import Action
from execgate.domain.errors import ExecgateError, InvalidArgument
from execgate.domain.models import Execution
from execgate.service.actions import ActionErrorCode, ActionOutcome, ActionTarget

ExecutionActionErrorCode = strawberry.enum(
    ActionErrorCode, name="ExecutionActionErrorCode", description="Why an action was refused."
)

MAX_BULK = 100


@strawberry.type
class ExecutionActionError:
    code: ExecutionActionErrorCode  # type: ignore[valid-type]
    message: str


@strawberry.type
class CancelExecutionPayload:
    execution: ExecutionNode | None
    errors: list[ExecutionActionError]


@strawberry.type
class RetryExecutionPayload:
    execution: ExecutionNode | None
    retry: ExecutionNode | None
    errors: list[ExecutionActionError]


@strawberry.type
class DeleteExecutionPayload:
    deleted_id: strawberry.ID | None
    errors: list[ExecutionActionError]


def target(raw_id: str | None) -> ActionTarget:
    """The execution a client named, by its global ID (``None``: an ID that was not given)."""
    if raw_id is None:
        return ActionTarget(None, None, "no execution ID was given")
    try:
        return ActionTarget(raw_id, ids.execution_key(raw_id))
    except ids.InvalidID as exc:
        return ActionTarget(raw_id, None, exc.message)


async def _run(info: Info, raw_id: str, action: Action, force: bool = False) -> ActionOutcome:
    """One action on one execution, through the client's scoped gateway (which audits it)."""
    loaders = info.context.loaders
    outcome = await info.context.gateway.perform(
        action, target(raw_id), loaders.execution_detail, force=force
    )
    if outcome.key is not None:
        loaders.forget(outcome.key)
    if outcome.retry is not None:
        loaders.forget(outcome.retry.key)
    return outcome


def _errors(outcome: ActionOutcome) -> list[ExecutionActionError]:
    if outcome.error is None:
        return []
    return [ExecutionActionError(code=outcome.error.code, message=outcome.error.message)]


async def _execution(info: Info, outcome: ActionOutcome) -> ExecutionNode | None:
    """The execution's state after the action; never read for a refused (forbidden) one."""
    if outcome.key is None:
        return None
    if outcome.error is not None and outcome.error.code is ActionErrorCode.FORBIDDEN:
        return None
    try:
        found: Execution | None = await info.context.loaders.execution_detail(outcome.key)
    except ExecgateError:
        return None
    return None if found is None else ExecutionNode.from_domain(found)


async def _cancel(info: Info, raw_id: str) -> CancelExecutionPayload:
    outcome = await _run(info, raw_id, Action.CANCEL)
    return CancelExecutionPayload(
        execution=await _execution(info, outcome), errors=_errors(outcome)
    )


async def _delete(info: Info, raw_id: str) -> DeleteExecutionPayload:
    outcome = await _run(info, raw_id, Action.DELETE)
    return DeleteExecutionPayload(
        deleted_id=strawberry.ID(raw_id) if outcome.ok else None, errors=_errors(outcome)
    )


def _check_bulk(info: Info, raw_ids: list[strawberry.ID], action: Action) -> None:
    if len(raw_ids) > MAX_BULK:
        targets = [target(str(raw)) for raw in raw_ids]
        info.context.gateway.refused(action, targets, "BAD_USER_INPUT")
        raise InvalidArgument(f"at most {MAX_BULK} ids per call")


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Stop a running, pending or waiting execution.")
    async def cancel_execution(self, info: Info, id: strawberry.ID) -> CancelExecutionPayload:
        return await _cancel(info, str(id))

    @strawberry.mutation(
        description="Run a failed execution again. Refused when a retry already succeeded, "
        "unless force is true. Answers when the retry has finished."
    )
    async def retry_execution(
        self, info: Info, id: strawberry.ID, force: bool = False
    ) -> RetryExecutionPayload:
        outcome = await _run(info, str(id), Action.RETRY, force=force)
        retry = None if outcome.retry is None else ExecutionNode.from_domain(outcome.retry)
        return RetryExecutionPayload(
            execution=await _execution(info, outcome), retry=retry, errors=_errors(outcome)
        )

    @strawberry.mutation(description="Delete a finished execution's record.")
    async def delete_execution(self, info: Info, id: strawberry.ID) -> DeleteExecutionPayload:
        return await _delete(info, str(id))

    @strawberry.mutation(description="Cancel several executions; one result per id, in order.")
    async def cancel_executions(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[CancelExecutionPayload]:
        _check_bulk(info, ids, Action.CANCEL)
        return list(await asyncio.gather(*(_cancel(info, str(i)) for i in ids)))

    @strawberry.mutation(description="Delete several executions; one result per id, in order.")
    async def delete_executions(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[DeleteExecutionPayload]:
        _check_bulk(info, ids, Action.DELETE)
        return list(await asyncio.gather(*(_delete(info, str(i)) for i in ids)))
