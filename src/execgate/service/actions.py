"""Cancel, retry and delete: the rules every instance kind shares.

Each action checks what it can first (capability, existence, state read through the caller's
loader), then sends exactly one request: an action is never retried, whatever the error. The
backend's own refusal still counts, because the state may change between the read and the
write. Outcomes are values (``ActionOutcome``), not exceptions, so bulk forms report one
result per id and never stop at the first failure. ``Gateway.perform`` runs them and writes
one audit entry per attempt.

When the request may have reached the backend but its answer was lost (a reset or a timeout
after sending, a 5xx other than 501/503), the outcome is worked out by reading, not
by asking again: a cancel that shows as cancelled, a delete whose execution is gone, a retry
whose new execution can be found are reported as done; what the read cannot tell is
``OUTCOME_UNKNOWN``, never ``UPSTREAM_UNAVAILABLE``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from execgate.domain.errors import (
    BackendError,
    Conflict,
    ExecgateError,
    NotFound,
    Unsupported,
    UpstreamForbidden,
    UpstreamTimeout,
)
from execgate.domain.keys import ExecutionKey
from execgate.domain.models import Capability, Execution, ExecutionQuery, ExecutionStatus
from execgate.domain.ports import Backend


class ActionErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"
    NOT_CANCELLABLE = "NOT_CANCELLABLE"
    NOT_RETRYABLE = "NOT_RETRYABLE"
    ALREADY_RETRIED = "ALREADY_RETRIED"
    RUNNING = "RUNNING"
    UNSUPPORTED = "UNSUPPORTED"
    FORBIDDEN = "FORBIDDEN"
    INVALID_ID = "INVALID_ID"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"
    """The request may have reached the backend, its answer was lost, and reading the
    execution again could not tell whether it acted."""


@dataclass(frozen=True, slots=True)
class ActionError:
    code: ActionErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class ActionTarget:
    """The execution a client named for an action.

    ``execution_id`` is the ID as the client gave it (what the audit trail records); ``key`` is
    the execution it names, or ``None`` when it names none, with ``problem`` saying why.
    """

    execution_id: str | None
    key: ExecutionKey | None
    problem: str | None = None

    @property
    def instance(self) -> str | None:
        return None if self.key is None else self.key.instance


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    key: ExecutionKey | None
    error: ActionError | None = None
    retry: Execution | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def code(self) -> str:
        """``OK`` or the error code, as the audit trail records it."""
        return "OK" if self.error is None else self.error.code.value


CANCELLABLE = frozenset({ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.WAITING})
RETRYABLE = frozenset({ExecutionStatus.FAILED, ExecutionStatus.CRASHED})

Reader = Callable[[ExecutionKey], Awaitable[Execution | None]]

_CONFLICT_CODES = {
    "not_cancellable": ActionErrorCode.NOT_CANCELLABLE,
    "not_retryable": ActionErrorCode.NOT_RETRYABLE,
    "running": ActionErrorCode.RUNNING,
}


def _fail(key: ExecutionKey | None, code: ActionErrorCode, message: str) -> ActionOutcome:
    return ActionOutcome(key, ActionError(code, message))


def _from_error(key: ExecutionKey, exc: ExecgateError, default: ActionErrorCode) -> ActionOutcome:
    if isinstance(exc, NotFound):
        return _fail(key, ActionErrorCode.NOT_FOUND, "the execution does not exist")
    if isinstance(exc, Conflict):
        return _fail(key, _CONFLICT_CODES.get(exc.reason, default), exc.message)
    if isinstance(exc, Unsupported):
        return _fail(key, ActionErrorCode.UNSUPPORTED, exc.message)
    if isinstance(exc, UpstreamForbidden):
        return _fail(key, ActionErrorCode.FORBIDDEN, exc.message)
    if isinstance(exc, UpstreamTimeout):
        # Sent, it would have been reconciled (``_lost``): this one never left the gateway.
        return _fail(
            key,
            ActionErrorCode.UPSTREAM_TIMEOUT,
            f"instance {key.instance!r} could not be reached in time; nothing was sent",
        )
    if isinstance(exc, BackendError):
        return _fail(key, ActionErrorCode.UPSTREAM_UNAVAILABLE, exc.message)
    raise exc


async def _current(
    backend: Backend, capability: Capability, action: str, key: ExecutionKey, read: Reader
) -> Execution | ActionOutcome:
    """What every action checks first: the capability, then the execution's current state.

    Returns the execution, or the outcome that refuses the action before anything is sent.
    """
    if capability not in backend.capabilities():
        return _fail(
            key,
            ActionErrorCode.UNSUPPORTED,
            f"instance {key.instance!r} ({backend.kind.value}) has no {action} operation",
        )
    try:
        current = await read(key)
    except BackendError as exc:
        return _from_error(key, exc, ActionErrorCode.UPSTREAM_UNAVAILABLE)
    if current is None:
        return _fail(key, ActionErrorCode.NOT_FOUND, "the execution does not exist")
    return current


async def cancel(backend: Backend, key: ExecutionKey, read: Reader) -> ActionOutcome:
    current = await _current(backend, Capability.CANCEL, "cancel", key, read)
    if isinstance(current, ActionOutcome):
        return current
    if current.status not in CANCELLABLE:
        return _fail(
            key,
            ActionErrorCode.NOT_CANCELLABLE,
            f"only running, pending or waiting executions can be cancelled; "
            f"this one is {current.status.value}",
        )
    try:
        await backend.cancel(key.native_id)
    except ExecgateError as exc:
        if _lost(exc):
            return await _reconcile_cancel(backend, key)
        return _from_error(key, exc, ActionErrorCode.NOT_CANCELLABLE)
    return ActionOutcome(key)


async def retry(backend: Backend, key: ExecutionKey, read: Reader, *, force: bool) -> ActionOutcome:
    current = await _current(backend, Capability.RETRY, "retry", key, read)
    if isinstance(current, ActionOutcome):
        return current
    if current.status not in RETRYABLE:
        return _fail(
            key,
            ActionErrorCode.NOT_RETRYABLE,
            f"only failed or crashed executions can be retried; this one is {current.status.value}",
        )
    if current.retry_success_id and not force:
        return _fail(
            key,
            ActionErrorCode.ALREADY_RETRIED,
            f"retry {current.retry_success_id} of this execution already succeeded; "
            "pass force: true to run it again",
        )
    asked = datetime.now(UTC)
    try:
        new = await backend.retry(key.native_id)
    except ExecgateError as exc:
        if _lost(exc):
            return await _reconcile_retry(backend, key, current, asked)
        return _from_error(key, exc, ActionErrorCode.NOT_RETRYABLE)
    return ActionOutcome(key, retry=new)


async def delete(backend: Backend, key: ExecutionKey, read: Reader) -> ActionOutcome:
    current = await _current(backend, Capability.DELETE, "delete", key, read)
    if isinstance(current, ActionOutcome):
        return current
    if current.status is ExecutionStatus.RUNNING:
        return _fail(
            key, ActionErrorCode.RUNNING, "a running execution cannot be deleted; cancel it first"
        )
    try:
        await backend.delete(key.native_id)
    except ExecgateError as exc:
        if _lost(exc):
            return await _reconcile_delete(backend, key)
        return _from_error(key, exc, ActionErrorCode.RUNNING)
    return ActionOutcome(key)


# --- answers that were lost -------------------------------------------------------------------

RETRY_SEARCH = 25
"""The newest executions of the workflow searched for a retry whose answer was lost."""
_CLOCK_SKEW = timedelta(seconds=60)


def _lost(exc: ExecgateError) -> bool:
    return isinstance(exc, BackendError) and exc.outcome_unknown


def _unknown(key: ExecutionKey, action: str) -> ActionOutcome:
    return _fail(
        key,
        ActionErrorCode.OUTCOME_UNKNOWN,
        f"instance {key.instance!r} may have received the {action}, but its answer was lost and "
        "reading the execution again could not tell whether it acted; read it again before "
        "acting on it",
    )


async def _read_again(backend: Backend, key: ExecutionKey) -> Execution | None:
    """The execution as the backend has it now; ``ExecgateError`` when it cannot say."""
    return (await backend.get_executions([key.native_id], include_nodes=False)).get(key.native_id)


async def _reconcile_cancel(backend: Backend, key: ExecutionKey) -> ActionOutcome:
    try:
        now = await _read_again(backend, key)
    except ExecgateError:
        return _unknown(key, "cancel")
    if now is not None and now.status is ExecutionStatus.CANCELLED:
        return ActionOutcome(key)
    if now is not None and now.status.is_finished:
        return _fail(
            key,
            ActionErrorCode.NOT_CANCELLABLE,
            f"the execution finished as {now.status.value} before the stop took effect",
        )
    return _unknown(key, "cancel")


async def _reconcile_delete(backend: Backend, key: ExecutionKey) -> ActionOutcome:
    try:
        now = await _read_again(backend, key)
    except ExecgateError:
        return _unknown(key, "delete")
    return ActionOutcome(key) if now is None else _unknown(key, "delete")


async def _reconcile_retry(
    backend: Backend, key: ExecutionKey, before: Execution, asked: datetime
) -> ActionOutcome:
    """The retry this request made, if the backend shows one: the original's new
    ``retrySuccessId``, or a newer execution of its workflow that says it retried it."""
    try:
        now = await _read_again(backend, key)
        if (
            now is not None
            and now.retry_success_id
            and (now.retry_success_id != before.retry_success_id)
        ):
            found = await backend.get_executions([now.retry_success_id], include_nodes=False)
            if now.retry_success_id in found:
                return ActionOutcome(key, retry=found[now.retry_success_id])
        recent = await backend.list_executions(
            ExecutionQuery(workflow_id=before.workflow_id), limit=RETRY_SEARCH
        )
    except ExecgateError:
        return _unknown(key, "retry")
    for candidate in recent.items:
        moment = candidate.sort_time
        if candidate.retry_of == key.native_id and (
            moment is None or moment >= asked - _CLOCK_SKEW
        ):
            return ActionOutcome(key, retry=candidate)
    return _unknown(key, "retry")
