"""GraphQL execution: plain attribute fields read without graphql-core's per-field machinery.

A page of executions with their node runs is thousands of fields, and nearly all of them only
read an attribute of a dataclass and serialise it as a scalar or an enum. graphql-core treats
each one like any other field: a ``Path``, a resolve info, the resolver call (which strawberry
wraps again), two awaitable checks, then completion by type. That is most of the cost of a
warm page.

For *plain* fields (no resolver, no arguments, no permission classes, no field extensions;
``api/resolvers.py`` gives them a bare ``getattr`` resolver):

- ``LeafFastExecutor`` (strawberry's executor, with ``execute_fields`` replaced) completes plain
  fields of leaf type (scalar or enum, nullable or not) inline: read the attribute, coerce it
  with the type's own ``coerce_output_value`` (and the ``id`` of a Relay node: the base64 of
  ``TypeName:<NodeID>``, as strawberry makes it). Any value the inline path cannot complete
  exactly (``None`` in a non-null field, a coercion that fails or returns nothing) goes through
  graphql-core's own ``execute_field``, so errors, their paths and null propagation are
  unchanged;
- the same executor completes a whole *plain object* inline (an object value whose selected
  fields are all such leaves, or ``__typename``), and a list of them in one loop: the node runs
  of a page are hundreds of such objects. Any item it cannot complete exactly (a failed type
  check, an awaitable, a leaf that needs graphql-core's path) sends the whole value back to
  graphql-core, which starts again from scratch; reading an attribute has no side effect.
  Resolver fields, and fields carrying directives (``@stream``, ``@defer``), always take
  graphql-core's path.

With middleware present (a strawberry extension that wraps resolvers) the fast path is off for
the whole request, since it would bypass it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from enum import EnumMeta
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    Undefined,
    is_leaf_type,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry import relay
from strawberry.relay.utils import to_base64
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api.resolvers import known_value_fields, plain_fields

LeafPlan = tuple[Callable[[Any], Any], Callable[[Any], Any], bool]
"""How to complete one plain leaf field: read the attribute, coerce it (the type's own
``coerce_output_value``, or a lookup that answers the same), and whether ``None`` must go to
graphql-core's path (a non-null field, or a resolver field whose known answer is missing)."""

RowPlan = tuple[tuple[str, LeafPlan | None], ...]
"""How to complete a plain object: (response name, leaf plan, or ``None`` for __typename)."""

_NOT_PLAIN: RowPlan = ()

_EXPECTED_PARAMETERS = (
    "self",
    "parent_type",
    "source_value",
    "path",
    "grouped_field_set",
    "position_context",
)


def _node_ids(schema: GraphQLSchema) -> Iterator[tuple[str, LeafPlan]]:
    """(type name, plan) of the ``id`` of every Relay node type that keeps strawberry's own way
    of making it (``resolve_id`` and ``resolve_typename`` not overridden): the global ID is the
    base64 of ``TypeName:<NodeID attribute>``, so it can be built without a resolve info."""
    for name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or "id" not in graphql_type.fields:
            continue
        definition = (graphql_type.extensions or {}).get("strawberry-definition")
        origin = getattr(definition, "origin", None)
        if not isinstance(origin, type) or not issubclass(origin, relay.Node):
            continue
        id_field = graphql_type.fields["id"]
        field_definition = (id_field.extensions or {}).get("strawberry-definition")
        if (
            origin.resolve_id.__func__ is not relay.Node.resolve_id.__func__  # type: ignore[attr-defined]
            or origin.resolve_typename.__func__ is not relay.Node.resolve_typename.__func__  # type: ignore[attr-defined]
            or field_definition is None
            or field_definition.extensions
            or field_definition.permission_classes
            or not isinstance(id_field.type, GraphQLNonNull)
            or not is_leaf_type(id_field.type.of_type)
        ):
            continue
        id_type = id_field.type.of_type
        plan = (_global_id(origin, name, origin.resolve_id_attr()), _coercer(id_type), True)
        yield name, plan


def _global_id(origin: type, type_name: str, id_attr: str) -> Callable[[Any], str]:
    read = attrgetter(id_attr)

    def global_id(root: Any) -> str:
        if not isinstance(root, origin):
            raise TypeError("not a node of this type")  # graphql-core's path decides
        node_id = read(root)
        if node_id is None:
            raise TypeError("no node id")
        return to_base64(type_name, node_id)

    return global_id


def leaf_plans(schema: GraphQLSchema) -> dict[str, dict[str, LeafPlan]]:
    """Type name → field name → plan, for every plain field of scalar or enum type, the ``id``
    of Relay nodes, and resolver fields of leaf type that name their known answer."""
    plans: dict[str, dict[str, LeafPlan]] = {}
    for type_name, id_plan in _node_ids(schema):
        plans.setdefault(type_name, {})["id"] = id_plan
    fields = [
        (graphql_type, field_name, _leaf_plan(graphql_field, attrgetter(name), known=False))
        for graphql_type, field_name, graphql_field, name in plain_fields(schema)
    ] + [
        (graphql_type, field_name, _leaf_plan(graphql_field, attrgetter(name), known=True))
        for graphql_type, field_name, graphql_field, name in known_value_fields(schema)
    ]
    for graphql_type, field_name, plan in fields:
        if plan is not None:
            plans.setdefault(graphql_type.name, {})[field_name] = plan
    return plans


def _leaf_plan(graphql_field: Any, read: Callable[[Any], Any], *, known: bool) -> LeafPlan | None:
    """The plan of a field of scalar or enum type, or ``None``. ``known``: the attribute holds
    a resolver's known answer, so a missing one (``None``) goes to graphql-core's path."""
    field_type = graphql_field.type
    non_null = isinstance(field_type, GraphQLNonNull)
    inner = field_type.of_type if non_null else field_type
    if not is_leaf_type(inner):
        return None
    return read, _coercer(inner), non_null or known


def _coercer(leaf: GraphQLLeafType) -> Callable[[Any], Any]:
    """The leaf's ``coerce_output_value``; for a strawberry enum, a dict lookup in front of it.

    Strawberry's enum finds a member's name by comparing it with every value in turn; the
    lookup answers the same name (the first whose value equals the member's) in one step, and
    anything it does not know goes to the enum type itself.
    """
    coerce = leaf.coerce_output_value
    members = getattr(leaf, "wrapped_cls", None)
    if not isinstance(leaf, GraphQLEnumType) or not isinstance(members, EnumMeta):
        return coerce
    names: dict[Any, str] = {}
    member: Any
    for member in members:
        for name, value in leaf.values.items():
            if member.value == value.value:
                names[member] = name
                break

    def coerce_member(value: Any) -> Any:
        name = names.get(value) if isinstance(value, members) else None
        return coerce(value) if name is None else name

    return coerce_member


def supports_fast_path() -> bool:
    """Whether the installed graphql-core executes fields the way ``LeafFastExecutor`` expects."""
    execute_fields = StrawberryGraphQLCoreExecutionContext.execute_fields
    return tuple(inspect.signature(execute_fields).parameters) == _EXPECTED_PARAMETERS


class LeafFastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing plain leaf fields inline (see the module docstring)."""

    plans: dict[str, dict[str, LeafPlan]] = {}
    _row_plans: dict[tuple[str, int], tuple[Any, RowPlan]] | None = None
    """This operation's plain object selections (kept with their field lists, so ids stay
    unique while it runs)."""

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        rows = self._row_plan(return_type, field_details_list)
        if rows is not _NOT_PLAIN:
            row = _complete_row(rows, return_type, info, result)
            if row is not None:
                return row
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        item_type = return_type.of_type
        items_non_null = isinstance(item_type, GraphQLNonNull)
        inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(inner, GraphQLObjectType) and isinstance(result, list | tuple):
            rows = self._row_plan(inner, field_details_list)
            if rows is not _NOT_PLAIN:
                completed: list[Any] = []
                for item in result:
                    if item is None and not items_non_null:
                        completed.append(None)
                        continue
                    row = _complete_row(rows, inner, info, item)
                    if row is None:
                        break
                    completed.append(row)
                else:
                    return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _plans_for(self, object_type: GraphQLObjectType) -> dict[str, LeafPlan] | None:
        """The type's leaf plans; ``None`` without any, or when middleware wraps resolvers
        (the fast path would bypass it)."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None
        return self.plans.get(object_type.name)

    def _row_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> RowPlan:
        """The plan of a plain object selection, or ``_NOT_PLAIN`` (memoised per selection)."""
        plans = self._plans_for(object_type)
        if plans is None:
            return _NOT_PLAIN
        memo = self._row_plans
        if memo is None:
            memo = self._row_plans = {}
        key = (object_type.name, id(field_details_list))
        found = memo.get(key)
        if found is not None:
            return found[1]
        rows = _row_plan_of(self, object_type, field_details_list, plans)
        memo[key] = (field_details_list, rows)
        return rows

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        plans = self._plans_for(parent_type)
        if plans is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get(field_details_list[0].node.name.value)
                if plan is not None:
                    completed = _complete_leaf(plan, source_value)
                    if completed is not Undefined:
                        results[response_name] = completed
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                only = awaitable_fields[0]
                results[only] = await results[only]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()


def _complete_leaf(plan: LeafPlan, source: Any) -> Any:
    """The completed value, or ``Undefined`` when graphql-core's own path must decide."""
    read, coerce, non_null = plan
    try:
        value = read(source)
        if value is None or value is Undefined:
            return Undefined if non_null else None
        if isinstance(value, Exception):
            return Undefined
        coerced = coerce(value)
    except Exception:
        return Undefined
    return Undefined if coerced is None else coerced


def _row_plan_of(
    executor: LeafFastExecutor,
    object_type: GraphQLObjectType,
    field_details_list: Any,
    plans: dict[str, LeafPlan],
) -> RowPlan:
    if any(details.node.directives for details in field_details_list):
        return _NOT_PLAIN  # @stream / @defer and friends: graphql-core's path
    grouped, new_defer_usages, _ = executor.collect_subfields(object_type, field_details_list)
    if new_defer_usages:
        return _NOT_PLAIN
    rows: list[tuple[str, LeafPlan | None]] = []
    for response_name, sub_details in grouped.items():
        field_name = sub_details[0].node.name.value
        if field_name == "__typename":
            rows.append((response_name, None))
            continue
        plan = plans.get(field_name)
        if plan is None:
            return _NOT_PLAIN
        rows.append((response_name, plan))
    return tuple(rows) if rows else _NOT_PLAIN


def _complete_row(
    rows: RowPlan, object_type: GraphQLObjectType, info: GraphQLResolveInfo[Any], source: Any
) -> dict[str, Any] | None:
    """A plain object completed inline, or ``None`` when graphql-core's path must decide."""
    is_type_of = object_type.is_type_of
    if source is None or (is_type_of is not None and is_type_of(source, info) is not True):
        return None
    row: dict[str, Any] = {}
    for response_name, plan in rows:
        if plan is None:
            row[response_name] = object_type.name
            continue
        completed = _complete_leaf(plan, source)
        if completed is Undefined:
            return None
        row[response_name] = completed
    return row


def executor_for(schema: GraphQLSchema) -> type[StrawberryGraphQLCoreExecutionContext] | None:
    """A ``LeafFastExecutor`` bound to ``schema``'s plain leaves; ``None`` (strawberry's own
    executor) when the installed graphql-core is not the one it was written against."""
    if not supports_fast_path():
        return None
    return type("ExecgateExecutor", (LeafFastExecutor,), {"plans": leaf_plans(schema)})
