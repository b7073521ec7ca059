"""The one error tree of execgate.

Adapters raise these; the service and API layers map them to GraphQL error codes. No message
carries a credential or a backend URL: adapters name the instance, never its address.

    ExecgateError
    ├── BackendError                 a backend could not give a usable answer (has .instance)
    │   ├── UpstreamUnavailable      refused, reset, 5xx
    │   ├── UpstreamTimeout          no answer in time (for a mutation: outcome unknown)
    │   ├── UpstreamUnauthorized     the backend rejected our credential (401)
    │   ├── UpstreamForbidden        the credential may not do this (403)
    │   ├── UpstreamBadResponse      an answer that is not what the API promises
    │   └── PartialRead              some executions of a batch read, others failed (has both)
    ├── NotFound                     no such execution/workflow/instance/node
    ├── Unsupported                  the instance's API has no such operation
    ├── Conflict                     the backend refused the action in the item's current state
    ├── Forbidden                    the client's scope does not allow this
    ├── InvalidCursor                a cursor that is not one of ours, or tampered, or stale
    ├── TooManySubscriptions         a client already holds its most live subscriptions
    └── InvalidArgument              an argument out of range (first, filter values, ids)
        ├── UnknownInstance          a filter names an instance that is not configured
        └── TooManyExecutions        a statistics window holds more than the scan may read
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SHOWN_CHARACTERS = 64
"""The most of a client's or backend's value a message quotes."""


def shown(value: str) -> str:
    """``value`` quoted for a message: whole when short, else its start and its length, so a
    hostile value of any size never comes back whole."""
    if len(value) <= SHOWN_CHARACTERS:
        return repr(value)
    return f"{value[:SHOWN_CHARACTERS]!r}… ({len(value)} characters)"


class ExecgateError(Exception):
    """Base of every error execgate raises on purpose. ``code`` is the stable GraphQL code."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BackendError(ExecgateError):
    code = "UPSTREAM_UNAVAILABLE"

    outcome_unknown = False
    """For a mutation: whether the backend may have acted although no answer said so."""

    def __init__(self, instance: str, message: str) -> None:
        super().__init__(message)
        self.instance = instance


class UpstreamUnavailable(BackendError):
    code = "UPSTREAM_UNAVAILABLE"


class UpstreamTimeout(BackendError):
    code = "UPSTREAM_TIMEOUT"


class UpstreamUnauthorized(BackendError):
    code = "UPSTREAM_UNAUTHORIZED"


class UpstreamForbidden(BackendError):
    code = "UPSTREAM_FORBIDDEN"


class UpstreamBadResponse(BackendError):
    code = "UPSTREAM_BAD_RESPONSE"


class PartialRead(BackendError):
    """A batch read of executions where some reads failed and others did not.

    ``found`` holds what was read (native id → value), ``failed`` each failure by native id.
    A reader that can use part of an answer (the per-request loaders) takes it apart, so one
    failed read costs only its own execution; for any other reader it is its first failure
    (message and code).
    """

    def __init__(
        self, instance: str, found: Mapping[str, Any], failed: Mapping[str, BackendError]
    ) -> None:
        first = next(iter(failed.values()))
        super().__init__(instance, first.message)
        self.code = first.code
        self.found = dict(found)
        self.failed = dict(failed)


class NotFound(ExecgateError):
    code = "NOT_FOUND"


class Unsupported(ExecgateError):
    code = "UNSUPPORTED"


class Conflict(ExecgateError):
    """The backend refused an action because of the item's state (e.g. stop of a finished one).

    ``reason`` narrows it: ``not_cancellable``, ``not_retryable``, ``running``.
    """

    code = "CONFLICT"

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Forbidden(ExecgateError):
    """The client's scope does not allow this."""

    code = "FORBIDDEN"


class InvalidCursor(ExecgateError):
    code = "INVALID_CURSOR"


class TooManySubscriptions(ExecgateError):
    """A client already holds ``[limits] max_subscriptions_per_client`` live subscriptions."""

    code = "TOO_MANY_SUBSCRIPTIONS"


class InvalidArgument(ExecgateError):
    code = "BAD_USER_INPUT"


class UnknownInstance(InvalidArgument):
    code = "UNKNOWN_INSTANCE"


class TooManyExecutions(InvalidArgument):
    """A statistics window that would read more executions than ``max_stats_executions``."""

    code = "STATS_LIMIT_EXCEEDED"
