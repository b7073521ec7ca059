"""Operation limits, checked after validation and before any resolver (so before any backend call).

- tokens: the parser stops at ``max_tokens`` (``QUERY_TOO_COMPLEX``);
- introspection (``__schema``, ``__type``) when switched off (``INTROSPECTION_DISABLED``);
- depth (``max_depth``; ``{ executions { edges { node { id } } } }`` has depth 3; the inside
  of introspection fields is left to graphql-core's own introspection depth rule) and aliases
  (``max_aliases``), both ``QUERY_TOO_COMPLEX``;
- ``first`` on every connection within 1..the gateway's ``max_first`` (``BAD_USER_INPUT``),
  variables resolved;
- the estimated backend requests (``api.cost``) within ``max_backend_calls``
  (``QUERY_TOO_EXPENSIVE``, with ``estimate`` and ``limit`` in ``extensions``).

A refused operation answers ``data: null`` and one coded error. A refused mutation is still
audited, by the service (``Gateway.refused``): one entry per execution it named, with the
refusal's code.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLNamedType,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.execution.values import VariableValues, get_variable_values
from strawberry.extensions import SchemaExtension

from execgate.api.context import Context
from execgate.api.cost import CostEstimate
from execgate.api.mutations import target
from execgate.api.walk import INTROSPECTION_ROOTS, Selected, Walker
from execgate.domain.access import Action
from execgate.lru import LRU

MAX_FIELD_VISITS = 20_000
"""Fields walked per operation (fragments spread many times count each time)."""

_MUTATION_ACTIONS = {
    "cancelExecution": Action.CANCEL,
    "cancelExecutions": Action.CANCEL,
    "retryExecution": Action.RETRY,
    "deleteExecution": Action.DELETE,
    "deleteExecutions": Action.DELETE,
}


@dataclass(frozen=True, slots=True)
class QueryLimits:
    max_backend_calls: int = 250
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 2000
    introspection: bool = True


class Refused(Exception):
    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message)
        self.error = GraphQLError(message, extensions={"code": code, **extensions})


def is_token_limit_error(error: GraphQLError) -> bool:
    """The parser's refusal of a document longer than ``max_tokens``."""
    return "Document contains more than" in error.message


class PassedOperations(LRU[Hashable, Any]):
    """Operations that passed the limits, so the same one is not walked again.

    An operation is the same when its parsed document (the parser cache hands out one object
    per text), operation name, variables, limits, ``max_first`` and the instances its client
    sees (names and kinds) are. The key holds the document's id and the entry the document
    itself, so that id cannot be reused meanwhile. Only passes are remembered: a refusal is
    worked out, and audited, every time.
    """

    def holds(self, key: Hashable, document: Any) -> bool:
        return self.get(key) is document


class QueryLimitsExtension(SchemaExtension):
    """Applies the request's ``QueryLimits`` (``Context.limits``, else the defaults)."""

    def __init__(self, *, passed: PassedOperations | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.passed = passed

    def _limits(self) -> QueryLimits:
        context = self.execution_context.context
        limits = context.limits if isinstance(context, Context) else None
        return limits or QueryLimits()

    def on_operation(self) -> Iterator[None]:
        self.execution_context.parse_options["max_tokens"] = self._limits().max_tokens
        yield

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        document = execution.graphql_document
        if document is not None and execution.result is None:
            passed = self.passed
            key = self._passed_key(document) if passed is not None else None
            if key is None or passed is None or not passed.holds(key, document):
                try:
                    self._check(document.definitions)
                except Refused as refused:
                    execution.result = GraphQLExecutionResult(data=None, errors=[refused.error])
                else:
                    if key is not None and passed is not None:
                        passed.put(key, document)
        yield

    def _passed_key(self, document: Any) -> Hashable | None:
        """What makes this operation the same as one that passed, or ``None`` (not kept)."""
        context = self.execution_context.context
        if not isinstance(context, Context):
            return None
        try:
            variables = orjson.dumps(
                self.execution_context.variables or {}, option=orjson.OPT_SORT_KEYS
            )
        except TypeError:
            return None
        gateway = context.gateway
        instances = tuple(sorted((name, kind.value) for name, kind in gateway.kinds().items()))
        return (
            id(document),
            self.execution_context.operation_name,
            variables,
            self._limits(),
            gateway.max_first,
            instances,
        )

    def _check(self, definitions: Any) -> None:
        limits = self._limits()
        schema = self.execution_context.schema._schema
        fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
        wanted = self.execution_context.operation_name
        if wanted is not None:
            operations = [o for o in operations if o.name and o.name.value == wanted]
        for operation in operations:
            variables = self._variables(operation)
            walker = Walker(schema, fragments, variables)
            try:
                self._check_operation(operation, walker, limits, variables is not None)
            except Refused as refused:
                self._audit_refusal(operation, walker, refused)
                raise

    def _variables(self, operation: OperationDefinitionNode) -> VariableValues | None:
        coerced = get_variable_values(
            self.execution_context.schema._schema,
            operation.variable_definitions or (),
            dict(self.execution_context.variables or {}),
        )
        # Variables that do not coerce fail the operation before any resolver runs.
        return None if isinstance(coerced, list) else coerced

    def _check_operation(
        self,
        operation: OperationDefinitionNode,
        walker: Walker,
        limits: QueryLimits,
        variables_known: bool,
    ) -> None:
        root = walker.root(operation)
        context = self.execution_context.context
        if root is None or not isinstance(context, Context):
            return
        shape = _Shape(walker, limits, context.gateway.max_first)
        shape.walk(operation.selection_set, root, 0, inside_introspection=False)
        if not variables_known:
            return
        gateway = context.gateway
        cost = CostEstimate(walker, gateway.costs(), max_first=gateway.max_first)
        estimate = cost.operation(operation)
        if estimate > limits.max_backend_calls:
            raise Refused(
                f"this operation would make about {estimate} backend requests; the limit is "
                f"{limits.max_backend_calls}: ask for smaller pages, fewer aliases or less "
                "nesting",
                "QUERY_TOO_EXPENSIVE",
                estimate=estimate,
                limit=limits.max_backend_calls,
            )

    def _audit_refusal(
        self, operation: OperationDefinitionNode, walker: Walker, refused: Refused
    ) -> None:
        context = self.execution_context.context
        root = walker.root(operation)
        if operation.operation is not OperationType.MUTATION or root is None:
            return
        if not isinstance(context, Context):
            return
        code = str((refused.error.extensions or {}).get("code"))
        for field in walker.fields(operation.selection_set, root):
            action = _MUTATION_ACTIONS.get(field.name)
            if action is None:
                continue
            args = walker.arguments(field) or {}
            raw = args.get("ids") if "ids" in args else [args.get("id")]
            given = raw if isinstance(raw, list) else [None]
            ids = [None if value is None else str(value) for value in given]
            context.gateway.refused(action, [target(i) for i in ids], code)


class _Shape:
    """Depth, aliases, introspection and ``first``, in one walk."""

    def __init__(self, walker: Walker, limits: QueryLimits, max_first: int) -> None:
        self.walker = walker
        self.limits = limits
        self.max_first = max_first
        self.aliases = 0
        self.visits = 0

    def walk(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        depth: int,
        *,
        inside_introspection: bool,
    ) -> None:
        limits = self.limits
        for field in self.walker.fields(selection_set, parent):
            self.visits += 1
            if self.visits > MAX_FIELD_VISITS:
                raise Refused(
                    f"this operation selects more than {MAX_FIELD_VISITS} fields",
                    "QUERY_TOO_COMPLEX",
                    rule="fields",
                    limit=MAX_FIELD_VISITS,
                )
            if field.node.alias is not None:
                self.aliases += 1
                if self.aliases > limits.max_aliases:
                    raise Refused(
                        f"this operation uses more than {limits.max_aliases} aliases",
                        "QUERY_TOO_COMPLEX",
                        rule="max_aliases",
                        limit=limits.max_aliases,
                    )
            introspection = inside_introspection or field.name in INTROSPECTION_ROOTS
            if field.name in INTROSPECTION_ROOTS and not limits.introspection:
                raise Refused("introspection is disabled on this gateway", "INTROSPECTION_DISABLED")
            if depth > limits.max_depth and not introspection:
                raise Refused(
                    f"this operation nests fields deeper than {limits.max_depth} levels",
                    "QUERY_TOO_COMPLEX",
                    rule="max_depth",
                    limit=limits.max_depth,
                )
            self._check_first(field)
            child = field.child_type
            if field.node.selection_set is not None and child is not None:
                self.walk(
                    field.node.selection_set, child, depth + 1, inside_introspection=introspection
                )

    def _check_first(self, field: Selected) -> None:
        if field.definition is None or "first" not in field.definition.args:
            return
        args = self.walker.arguments(field)
        first = None if args is None else args.get("first")
        if isinstance(first, int) and not isinstance(first, bool):
            top = self.max_first
            if first < 1 or first > top:
                raise Refused(f"'first' must be between 1 and {top}, got {first}", "BAD_USER_INPUT")
