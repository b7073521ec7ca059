"""GraphQL execution: fields completed inline where graphql-core's per-field machinery adds nothing.

A page of executions with their node runs is thousands of fields, and nearly all of them only
read an attribute of a dataclass and serialise it as a scalar or an enum. graphql-core treats
each one like any other field: a ``Path``, a resolve info, the resolver call (which strawberry
wraps again), two awaitable checks, then completion by type. That is most of the cost of a
warm page.

``InlineExecutor`` (strawberry's executor, with ``execute_fields``, ``complete_object_value``
and ``complete_list_value`` replaced) follows the field plans of ``api/plans.py``:

- a leaf field with a plan is read and coerced inline (the ``id`` of a Relay node: the base64
  of ``TypeName:<NodeID>``, as strawberry makes it);
- an object whose every selected field has a plan (or is ``__typename``) is completed in one
  go, as a *row*, and so are its planned object fields, nested to any depth, and lists of them:
  a whole page (connection, edges, executions, workflows, node runs) when every answer is
  already at hand;
- anything a plan cannot complete exactly (``None`` in a non-null field, a coercion that fails
  or returns nothing, a failed type check, an unknown answer, an awaitable) sends that field,
  or the whole object it is part of, back to graphql-core, which starts again from scratch;
  reading an attribute has no side effect. So errors, their paths and null propagation are
  graphql-core's own. Fields carrying directives (``@stream``, ``@defer``) and fields without
  a plan always take graphql-core's path.

With middleware present (a strawberry extension that wraps resolvers) the inline path is off for
the whole request, since it would bypass it.
"""

from __future__ import annotations

import inspect
from typing import Any

from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    Undefined,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api.plans import LEAF, OBJECT, TYPENAME, FieldPlan, LeafPlan, field_plans
from execgate.lru import LRU

RowPlan = tuple[tuple[str, int, Any], ...]
"""How to complete an object selection inline: (response name, kind, what to do) per field:
``LEAF`` with its ``LeafPlan``, ``OBJECT`` with ``(ObjectPlan, RowPlan of its selection)``,
``TYPENAME`` with ``None``."""

_NOT_PLAIN: RowPlan = ()

SHARED_PLANS = 512
"""Row plans kept across operations per schema."""

_EXPECTED_PARAMETERS = (
    "self",
    "parent_type",
    "source_value",
    "path",
    "grouped_field_set",
    "position_context",
)


def supports_fast_path() -> bool:
    """Whether the installed graphql-core executes fields the way ``InlineExecutor`` expects."""
    execute_fields = StrawberryGraphQLCoreExecutionContext.execute_fields
    return tuple(inspect.signature(execute_fields).parameters) == _EXPECTED_PARAMETERS


class InlineExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, completing planned fields inline (see the module docstring)."""

    plans: dict[str, dict[str, FieldPlan]] = {}
    _row_plans: dict[tuple[str, int], tuple[Any, RowPlan]] | None = None
    """This operation's object selections and their row plans (kept with their field lists,
    so ids stay unique while it runs)."""
    shared_plans: LRU[Any, tuple[tuple[Any, ...], RowPlan]] = LRU(0)
    """Row plans shared by the operations of one schema (see ``_shared_key``); each schema's
    executor class gets its own (``executor_for``)."""
    _variables_key: str | None = None

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
                completed = _complete_rows(rows, inner, info, result, items_non_null)
                if completed is not Undefined:
                    return completed
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _plans_for(self, object_type: GraphQLObjectType) -> dict[str, FieldPlan] | None:
        """The type's field plans; ``None`` without any, or when middleware wraps resolvers
        (the inline path would bypass it)."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None
        return self.plans.get(object_type.name)

    def _row_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> RowPlan:
        """The row plan of an object selection, or ``_NOT_PLAIN`` (memoised per selection)."""
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
        shared_key = self._shared_key(object_type, field_details_list)
        shared = self.shared_plans.get(shared_key) if shared_key is not None else None
        if shared is not None:
            rows = shared[1]
        else:
            rows = self._row_plan_of(object_type, field_details_list, plans)
            if shared_key is not None:
                nodes = tuple(details.node for details in field_details_list)
                self.shared_plans.put(shared_key, (nodes, rows))
        memo[key] = (field_details_list, rows)
        return rows

    def _shared_key(self, object_type: GraphQLObjectType, field_details_list: Any) -> Any:
        """What makes a selection's row plan the same in another operation, or ``None``.

        The parser cache hands every request of the same text the same syntax tree, so the
        selection's field nodes (kept alive with the plan) name it; the variables decide its
        ``@skip``/``@include``. Deferred selections are never shared.
        """
        if any(
            d.defer_usage is not None or d.fragment_variable_values is not None
            for d in field_details_list
        ):
            return None
        variables = self._variables_key
        if variables is None:
            coerced = self.variable_values.coerced
            variables = self._variables_key = repr(sorted(coerced.items()))
        nodes = tuple(id(details.node) for details in field_details_list)
        return (object_type.name, nodes, variables)

    def _row_plan_of(
        self, object_type: GraphQLObjectType, field_details_list: Any, plans: dict[str, FieldPlan]
    ) -> RowPlan:
        if any(details.node.directives for details in field_details_list):
            return _NOT_PLAIN  # @stream / @defer and friends: graphql-core's path
        grouped, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return _NOT_PLAIN
        rows: list[tuple[str, int, Any]] = []
        for response_name, sub_details in grouped.items():
            field_name = sub_details[0].node.name.value
            if field_name == "__typename":
                rows.append((response_name, TYPENAME, None))
                continue
            entry = plans.get(field_name)
            if entry is None:
                return _NOT_PLAIN
            kind, plan = entry
            if kind == OBJECT:
                nested = self._row_plan(plan[5], sub_details)
                if nested is _NOT_PLAIN:
                    return _NOT_PLAIN
                rows.append((response_name, OBJECT, (plan, nested)))
            else:
                rows.append((response_name, LEAF, plan))
        return tuple(rows) if rows else _NOT_PLAIN

    def _complete_planned(self, entry: FieldPlan, field_details_list: Any, source: Any) -> Any:
        """One planned field of ``execute_fields`` completed inline, or ``Undefined``."""
        kind, plan = entry
        if kind == LEAF:
            return _complete_leaf(plan, source)
        rows = self._row_plan(plan[5], field_details_list)
        if rows is _NOT_PLAIN:
            return Undefined
        return _complete_object((plan, rows), None, source)

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
                entry = plans.get(field_details_list[0].node.name.value)
                if entry is not None:
                    completed = self._complete_planned(entry, field_details_list, source_value)
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


def _complete_object(entry: tuple[Any, RowPlan], info: Any, source: Any) -> Any:
    """A planned object field (or list of objects) completed inline, or ``Undefined``.

    ``info`` is only handed to ``is_type_of``, which the plans make sure does not read it.
    """
    (read, known, non_null, is_list, items_non_null, object_type), rows = entry
    try:
        value = read(source)
    except Exception:
        return Undefined
    if value is None:
        return Undefined if known or non_null else None
    if is_list:
        if not isinstance(value, list | tuple):
            return Undefined
        return _complete_rows(rows, object_type, info, value, items_non_null)
    row = _complete_row(rows, object_type, info, value)
    return Undefined if row is None else row


def _complete_rows(
    rows: RowPlan, object_type: GraphQLObjectType, info: Any, items: Any, items_non_null: bool
) -> list[Any] | Any:
    """A list of objects completed inline, or ``Undefined``."""
    completed: list[Any] = []
    for item in items:
        if item is None:
            if items_non_null:
                return Undefined
            completed.append(None)
            continue
        row = _complete_row(rows, object_type, info, item)
        if row is None:
            return Undefined
        completed.append(row)
    return completed


def _complete_row(
    rows: RowPlan, object_type: GraphQLObjectType, info: Any, source: Any
) -> dict[str, Any] | None:
    """An object completed inline, or ``None`` when graphql-core's path must decide."""
    is_type_of = object_type.is_type_of
    if source is None or (is_type_of is not None and is_type_of(source, info) is not True):
        return None
    row: dict[str, Any] = {}
    for response_name, kind, plan in rows:
        if kind == LEAF:
            completed = _complete_leaf(plan, source)
        elif kind == OBJECT:
            completed = _complete_object(plan, info, source)
        else:
            row[response_name] = object_type.name
            continue
        if completed is Undefined:
            return None
        row[response_name] = completed
    return row


def executor_for(schema: GraphQLSchema) -> type[StrawberryGraphQLCoreExecutionContext] | None:
    """An ``InlineExecutor`` bound to ``schema``'s field plans; ``None`` (strawberry's own
    executor) when the installed graphql-core is not the one it was written against."""
    if not supports_fast_path():
        return None
    return type(
        "ExecgateExecutor",
        (InlineExecutor,),
        {"plans": field_plans(schema), "shared_plans": LRU(SHARED_PLANS)},
    )
