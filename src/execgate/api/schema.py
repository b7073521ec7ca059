"""Assembles the schema (and nothing else)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLObjectType
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionContext

from execgate.api.errors import ErrorCodes
from execgate.api.limits import QueryLimitsExtension
from execgate.api.mutations import Mutation
from execgate.api.queries import Query
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


def read_attributes_directly(built: strawberry.Schema) -> int:
    """Resolve plain attribute fields with a bare ``getattr``; returns how many were changed.

    Strawberry wraps every field, even one that only reads an attribute, in its own resolver
    (building its ``Info``, running field extensions, checking for awaitables): most of the
    cost of a page of executions with their nodes, a thousand fields and more. A field with no
    resolver, no permission classes and no field extensions gains nothing from that wrapper;
    its value is still serialised by its GraphQL type (enums, ``DateTime``, ``JSON``).
    """
    changed = 0
    for name, graphql_type in built._schema.type_map.items():
        if name.startswith("__") or not isinstance(graphql_type, GraphQLObjectType):
            continue
        for graphql_field in graphql_type.fields.values():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            if (
                definition is None
                or definition.base_resolver is not None
                or definition.extensions
                or definition.permission_classes
            ):
                continue
            graphql_field.resolve = _attribute(definition.python_name)
            changed += 1
    return changed


def _attribute(python_name: str) -> Callable[..., Any]:
    read = attrgetter(python_name)

    def resolve(root: Any, info: Any) -> Any:
        return read(root)

    return resolve


def build_schema(**kwargs: Any) -> strawberry.Schema:
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
            QueryLimitsExtension,
        ],
        **kwargs,
    )
    read_attributes_directly(built)
    return built


schema = build_schema()
