"""Cancel, retry and delete: the rules every instance kind shares.

Each action checks what it can first (capability, existence, state read through the caller's
loader), then sends exactly one request: an action is never retried, whatever the error. The
backend's own refusal still counts, because the state may change between the read and the
write. Outcomes are values (``ActionOutcome``), not exceptions, so bulk forms report one
result per id and never stop at the first failure. ``Gateway.perform`` runs them and writes
one audit entry per attempt.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
from execgate.domain.models import Capability, Execution, ExecutionStatus
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
        return _fail(
            key,
            ActionErrorCode.UPSTREAM_TIMEOUT,
            f"instance {key.instance!r} did not answer in time; the outcome is unknown — "
            "read the execution again before acting on it",
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
    try:
        new = await backend.retry(key.native_id)
    except ExecgateError as exc:
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
        return _from_error(key, exc, ActionErrorCode.RUNNING)
    return ActionOutcome(key)
