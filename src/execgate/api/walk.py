"""Walking an operation's AST with types: the fields a selection set selects, and their args.

Fragments (inline and named) are flattened into the fields they hold, each paired with the
type it is selected on; ``@skip``/``@include`` are honoured when their condition is known. Used
by the cost estimate (which also checks every ``first``) and by the audit of refused mutations,
before any resolver runs, and by the feed's resolver to decide what it reads
(``wants_detail``): the estimate and the fetch follow one walk, so no directive, fragment or
variable makes the fetch read what the estimate did not count.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import (
    VariableValues,
    get_argument_values,
    get_directive_values,
)
from graphql.type import GraphQLIncludeDirective
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

DETAIL_FIELDS = frozenset({"nodeExecutions", "inputData", "outputData"})
"""The fields of an execution that need its full read (a detail read where lists lack them)."""


@dataclass(frozen=True, slots=True)
class Selected:
    """One field as selected: the type it is selected on, its node, and its definition."""

    parent: GraphQLNamedType
    node: FieldNode
    definition: GraphQLField | None

    @property
    def name(self) -> str:
        return self.node.name.value

    @property
    def child_type(self) -> GraphQLNamedType | None:
        return None if self.definition is None else get_named_type(self.definition.type)


class Walker:
    """Field collection over one document, with its coerced variables (``None``: unknown)."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: VariableValues | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def root(self, operation: OperationDefinitionNode) -> GraphQLObjectType | None:
        if operation.operation is OperationType.MUTATION:
            return self.schema.mutation_type
        if operation.operation is OperationType.SUBSCRIPTION:
            return self.schema.subscription_type
        return self.schema.query_type

    def fields(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType,
        _visiting: frozenset[str] = frozenset(),
    ) -> Iterator[Selected]:
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                yield Selected(parent, selection, self._definition(parent, selection))
            elif isinstance(selection, InlineFragmentNode):
                on = parent
                if selection.type_condition is not None:
                    found = self.schema.get_type(selection.type_condition.name.value)
                    if found is None:
                        continue
                    on = found
                yield from self.fields(selection.selection_set, on, _visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in _visiting:
                    continue
                on_type = self.schema.get_type(fragment.type_condition.name.value)
                if on_type is None:
                    continue
                yield from self.fields(fragment.selection_set, on_type, _visiting | {name})

    def arguments(self, selected: Selected) -> dict[str, Any] | None:
        """The field's coerced arguments, or ``None`` when they cannot be known."""
        if selected.definition is None:
            return None
        if not selected.definition.args:
            return {}
        try:
            return get_argument_values(selected.definition, selected.node, self.variables)
        except (GraphQLError, TypeError, ValueError):
            return None

    def _definition(self, parent: GraphQLNamedType, node: FieldNode) -> GraphQLField | None:
        name = node.name.value
        if name == "__schema":
            return SchemaMetaFieldDef
        if name == "__type":
            return TypeMetaFieldDef
        if name == "__typename":
            return TypeNameMetaFieldDef
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            found: GraphQLField | None = parent.fields.get(name)
            return found
        return None

    def _included(self, node: FieldNode | InlineFragmentNode | FragmentSpreadNode | Any) -> bool:
        if not node.directives:
            return True
        try:
            skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
            if skip is not None and skip.get("if") is True:
                return False
            include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
            return not (include is not None and include.get("if") is False)
        except (GraphQLError, TypeError, ValueError):
            return True


def wants_detail(
    walker: Walker, selection_set: SelectionSetNode | None, connection: GraphQLNamedType
) -> bool:
    """Whether a connection's selection (``edges.node`` or ``nodes``) asks for any of the
    executions' ``DETAIL_FIELDS``, as ``walker`` includes fields."""
    for part in walker.fields(selection_set, connection):
        if part.name == "nodes":
            nodes = [part]
        elif part.name == "edges":
            nodes = [f for f in _children(walker, part) if f.name == "node"]
        else:
            continue
        for node in nodes:
            if any(f.name in DETAIL_FIELDS for f in _children(walker, node)):
                return True
    return False


def _children(walker: Walker, field: Selected) -> list[Selected]:
    child = field.child_type
    if child is None:
        return []
    return list(walker.fields(field.node.selection_set, child))
