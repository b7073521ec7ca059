"""Assembles the schema (and nothing else).

With ``fast_executor`` (the default) the schema runs ``InlineExecutor`` (``api/execution.py``)
when ``api/compat.py`` finds the installed strawberry and graphql-core to be the ones it was
written against; otherwise strawberry's own executor, with one log line saying what differed.
"""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from execgate.api import compat
from execgate.api.errors import ErrorCodes
from execgate.api.execution import executor_for
from execgate.api.limits import PassedOperations, QueryLimitsExtension
from execgate.api.mutations import Mutation
from execgate.api.queries import Query
from execgate.api.types import ExecutionNode, InstanceNode, NodeExecutionNode, WorkflowNode
from execgate.domain.errors import ExecgateError

log = logging.getLogger("execgate.api")


class ExecgateSchema(strawberry.Schema):
    fast = False
    """Whether it runs ``InlineExecutor``."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.original_error is not None and not isinstance(
                error.original_error, ExecgateError | GraphQLError
            ):
                log.error("unexpected error", exc_info=error.original_error)


def build_schema(*, fast_executor: bool = True, **kwargs: Any) -> ExecgateSchema:
    passed = PassedOperations(256)
    # ErrorCodes comes first so that it codes the errors of everything after it; the limits run
    # after validation, before any resolver (see api.limits).
    built = ExecgateSchema(
        query=Query,
        mutation=Mutation,
        types=[InstanceNode, WorkflowNode, ExecutionNode, NodeExecutionNode],
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            lambda: QueryLimitsExtension(passed=passed),
        ],
        **kwargs,
    )
    if fast_executor:
        differences = compat.check()
        if differences:
            log.warning(
                "fast executor off, strawberry's own runs instead: %s", "; ".join(differences)
            )
        else:
            built.execution_context_class = executor_for(
                built._schema, operations=512, moments=4096
            )
            built.fast = True
    return built


schema = build_schema()
