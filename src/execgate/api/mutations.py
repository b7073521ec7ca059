"""Mutations: cancel, retry and delete, one payload shape each, errors as data.

Each payload carries ``errors: [ExecutionActionError!]!`` (empty on success). After an action,
the loader's copy of the execution is dropped, so the payload shows the state after the action.

The client's scope is enforced by the gateway (``Gateway.perform``): an action the client was
not granted answers ``FORBIDDEN`` and no backend is asked anything, not even for the payload.
Every attempt, whatever its outcome, leaves one line in the audit trail.
"""

from __future__ import annotations

import asyncio
import time

import strawberry

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.types import ExecutionNode
from execgate.domain.access import Action
from execgate.domain.errors import ExecgateError, InvalidArgument
from execgate.domain.models import Execution
from execgate.service import actions
from execgate.service.actions import ActionErrorCode, ActionOutcome

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


def _code(outcome: ActionOutcome | None) -> str:
    if outcome is None:
        return "INTERNAL_SERVER_ERROR"
    return "OK" if outcome.error is None else outcome.error.code.value


async def _attempt(info: Info, raw_id: str, action: Action, force: bool) -> ActionOutcome:
    try:
        key = ids.execution_key(raw_id)
    except ids.InvalidID as exc:
        return ActionOutcome(None, actions.ActionError(ActionErrorCode.INVALID_ID, exc.message))
    loaders = info.context.loaders
    outcome = await info.context.gateway.perform(action, key, loaders.execution_detail, force=force)
    loaders.forget(key)
    if outcome.retry is not None:
        loaders.forget(outcome.retry.key)
    return outcome


async def _run(info: Info, raw_id: str, action: Action, force: bool = False) -> ActionOutcome:
    """One action on one execution, through the client's scoped gateway; always audited."""
    started = time.perf_counter()
    outcome: ActionOutcome | None = None
    try:
        outcome = await _attempt(info, raw_id, action, force)
        return outcome
    finally:
        instance = outcome.key.instance if outcome and outcome.key else _instance_of(raw_id)
        info.context.audit_action(
            action.value,
            raw_id,
            instance,
            _code(outcome),
            (time.perf_counter() - started) * 1000,
        )


def _instance_of(raw_id: str) -> str | None:
    try:
        return ids.execution_key(raw_id).instance
    except ids.InvalidID:
        return None


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
        for raw in raw_ids:
            info.context.audit_action(
                action.value, str(raw), _instance_of(str(raw)), "BAD_USER_INPUT", 0.0
            )
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
