"""Assembles the schema (and nothing else)."""

from __future__ import annotations

import logging
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from execgate.api.errors import ErrorCodes
from execgate.api.execution import executor_for
from execgate.api.limits import PassedOperations, QueryLimitsExtension
from execgate.api.mutations import Mutation
from execgate.api.queries import Query
from execgate.api.resolvers import call_resolvers_directly, read_attributes_directly
from execgate.api.types import ExecutionNode, InstanceNode, NodeExecutionNode, WorkflowNode
from execgate.domain.errors import ExecgateError

log = logging.getLogger("execgate.api")


class ExecgateSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            if error.original_error is not None and not isinstance(
                error.original_error, ExecgateError | GraphQLError
            ):
                log.error("unexpected error", exc_info=error.original_error)


def build_schema(**kwargs: Any) -> strawberry.Schema:
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
    read_attributes_directly(built)
    call_resolvers_directly(built)
    executor = executor_for(built._schema)
    if executor is not None:
        built.execution_context_class = executor
    return built


schema = build_schema()
