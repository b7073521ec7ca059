"""Mutations: cancel, retry and delete, one payload shape each, errors as data.

Each payload carries ``errors: [ExecutionActionError!]!`` (empty on success). After an action,
the loader's copy of the execution is dropped, so the payload shows the state after the action.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import strawberry

from execgate.api import ids
from execgate.api.context import Info
from execgate.api.types import ExecutionNode
from execgate.domain.errors import BackendError
from execgate.domain.keys import ExecutionKey
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


Action = Callable[[ExecutionKey], Awaitable[ActionOutcome]]


async def _run(info: Info, raw_id: str, action: str, force: bool = False) -> ActionOutcome:
    try:
        key = ids.execution_key(raw_id)
    except ids.InvalidID as exc:
        return ActionOutcome(None, actions.ActionError(ActionErrorCode.INVALID_ID, exc.message))
    gateway = info.context.gateway
    backend = gateway.backends.get(key.instance)
    if backend is None:
        return ActionOutcome(
            key, actions.ActionError(ActionErrorCode.NOT_FOUND, "the execution does not exist")
        )
    loaders = info.context.loaders
    read = loaders.execution_detail
    if action == "cancel":
        outcome = await actions.cancel(backend, key, read)
    elif action == "retry":
        outcome = await actions.retry(backend, key, read, force=force)
    else:
        outcome = await actions.delete(backend, key, read)
    loaders.forget(key)
    if outcome.retry is not None:
        loaders.forget(outcome.retry.key)
    return outcome


def _errors(outcome: ActionOutcome) -> list[ExecutionActionError]:
    if outcome.error is None:
        return []
    return [ExecutionActionError(code=outcome.error.code, message=outcome.error.message)]


async def _execution(info: Info, key: ExecutionKey | None) -> ExecutionNode | None:
    if key is None:
        return None
    try:
        found: Execution | None = await info.context.loaders.execution_detail(key)
    except BackendError:
        return None
    return None if found is None else ExecutionNode.from_domain(found)


async def _cancel(info: Info, raw_id: str) -> CancelExecutionPayload:
    outcome = await _run(info, raw_id, "cancel")
    return CancelExecutionPayload(
        execution=await _execution(info, outcome.key), errors=_errors(outcome)
    )


async def _delete(info: Info, raw_id: str) -> DeleteExecutionPayload:
    outcome = await _run(info, raw_id, "delete")
    return DeleteExecutionPayload(
        deleted_id=strawberry.ID(raw_id) if outcome.ok else None, errors=_errors(outcome)
    )


def _check_bulk(raw_ids: list[strawberry.ID]) -> None:
    if len(raw_ids) > MAX_BULK:
        from execgate.domain.errors import InvalidArgument

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
        outcome = await _run(info, str(id), "retry", force=force)
        retry = None if outcome.retry is None else ExecutionNode.from_domain(outcome.retry)
        return RetryExecutionPayload(
            execution=await _execution(info, outcome.key), retry=retry, errors=_errors(outcome)
        )

    @strawberry.mutation(description="Delete a finished execution's record.")
    async def delete_execution(self, info: Info, id: strawberry.ID) -> DeleteExecutionPayload:
        return await _delete(info, str(id))

    @strawberry.mutation(description="Cancel several executions; one result per id, in order.")
    async def cancel_executions(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[CancelExecutionPayload]:
        _check_bulk(ids)
        return list(await asyncio.gather(*(_cancel(info, str(i)) for i in ids)))

    @strawberry.mutation(description="Delete several executions; one result per id, in order.")
    async def delete_executions(
        self, info: Info, ids: list[strawberry.ID]
    ) -> list[DeleteExecutionPayload]:
        _check_bulk(ids)
        return list(await asyncio.gather(*(_delete(info, str(i)) for i in ids)))
