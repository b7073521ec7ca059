"""GraphQL errors with stable codes.

Every error leaves with ``extensions.code``: an error that already carries one keeps it (the
limits' refusals); an ``ExecgateError`` keeps its own code (and ``extensions.instance`` for a
backend failure); GraphQL syntax errors (``GraphQLSyntaxError``) get ``GRAPHQL_PARSE_FAILED``,
other errors about the document ``GRAPHQL_VALIDATION_FAILED``; anything unexpected is logged
with its traceback on the server and reaches the client only as ``INTERNAL_SERVER_ERROR`` with
a generic message. Codes follow the error's type, never its message.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from execgate.api.context import Context
from execgate.domain.errors import BackendError, ExecgateError

log = logging.getLogger("execgate.api")


def with_code(error: GraphQLError) -> GraphQLError:
    """``error`` with its code (itself when it already carries one of its own)."""
    original = error.original_error
    if original is None and "code" in (error.extensions or {}):
        return error
    extensions: dict[str, Any] = dict(error.extensions or {})
    message = error.message
    if isinstance(original, ExecgateError):
        extensions["code"] = original.code
        message = original.message
        if isinstance(original, BackendError):
            extensions["instance"] = original.instance
    elif isinstance(original, GraphQLError):
        extensions.setdefault("code", "BAD_USER_INPUT")
    elif original is not None:
        log.error("unexpected error at %s", error.path, exc_info=original)
        extensions["code"] = "INTERNAL_SERVER_ERROR"
        message = "internal error; the server log has the details"
    elif "code" not in extensions:
        extensions["code"] = (
            "GRAPHQL_PARSE_FAILED"
            if isinstance(error, GraphQLSyntaxError)
            else "GRAPHQL_VALIDATION_FAILED"
        )
        if error.path is not None:
            extensions["code"] = "BAD_USER_INPUT"
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ErrorCodes(SchemaExtension):
    """Gives every error a code and appends the per-instance errors of partial results."""

    def on_execute(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None:
            return
        errors = [with_code(e) for e in result.errors or []]
        context = self.execution_context.context
        if isinstance(context, Context):
            for partial in context.partial_errors:
                errors.append(
                    GraphQLError(
                        partial.message,
                        path=list(partial.path),
                        extensions={"code": partial.code, "instance": partial.instance},
                    )
                )
        result.errors = errors or None

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each result of a stream (a subscription's events, an operation over SSE or
        multipart): its errors coded like any other, before it is sent."""
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = [e if _coded(e) else with_code(e) for e in errors]
        yield

    def on_validate(self) -> Iterator[None]:
        yield
        errors = self.execution_context.pre_execution_errors
        if errors:
            # The result already holds this list (and the validation cache): replace its items
            # in place; errors that carry a code already stay as they are.
            errors[:] = [with_code(e) for e in errors]


def _coded(error: GraphQLError) -> bool:
    return error.original_error is None and bool((error.extensions or {}).get("code"))


def ensure_codes(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Codes for errors raised before execution (parse errors), at the HTTP edge."""
    return [e if (e.extensions or {}).get("code") else with_code(e) for e in errors]
