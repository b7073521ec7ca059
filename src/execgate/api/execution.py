"""GraphQL execution: fields completed inline where graphql-core's per-field machinery adds nothing.

A page of executions with their node runs is thousands of fields, and nearly all of them only
read an attribute of a dataclass and serialise it as a scalar or an enum. graphql-core treats
each one like any other field: a ``Path``, a resolve info, the resolver call (which strawberry
wraps again), two awaitable checks, then completion by type. That is most of the cost of a
warm page.

``InlineExecutor`` is strawberry's executor with one method replaced: ``execute_fields``, which
graphql-core calls for every object it completes (the root included). It follows the field
plans of ``api/plans.py``:

- a leaf field with a plan is read and coerced inline (the ``id`` of a Relay node: the base64
  of ``TypeName:<NodeID>``, as strawberry makes it);
- an object field with a plan whose selected fields all have plans (or are ``__typename``) is
  completed in one go, as a *row*, and so are its planned object fields, nested to any depth,
  and lists of them: a whole page (connection, edges, executions, workflows, node runs) when
  every answer is already at hand;
- anything a plan cannot complete exactly (``None`` in a non-null field, a coercion that fails
  or returns nothing, a failed type check, an unknown answer, an awaitable) sends that field
  back to graphql-core's ``execute_field``, which starts again from scratch; reading an
  attribute has no side effect. So errors, their paths and null propagation are graphql-core's
  own. Fields carrying directives (``@stream``, ``@defer``) and fields without a plan always
  take graphql-core's path.

With middleware present (a strawberry extension that wraps resolvers, such as a tracing
extension) the inline path is off for the whole request, since it would bypass it.

Row plans are memoised per operation, and shared between operations of the same document (the
parser cache hands every request of one text the same syntax tree): a selection's row plan
depends on variables only through directives (``@skip``/``@include``), so the shared plans are
keyed by the document's operation and the values of the variables its directives use, never by
the other variables. ``InlineExecutor`` is only used when ``api/compat.py`` finds the installed
strawberry and graphql-core to be the ones it was written against.

Both executors (``InlineExecutor`` and, with the fast executor off, ``EventExecutor`` alone) give
each event of a subscription its own memo of collected subfields. graphql-core runs every event
on a shallow copy of the subscription's executor, which shares that memo; the memo is keyed by
the identity of field lists that each event collects anew, so, shared, it would keep every
event's field lists for as long as the subscription lasts (kilobytes per event delivered).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    VariableNode,
)
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from execgate.api.plans import LeafPlan, ObjectPlan, SchemaPlans, field_plans
from execgate.lru import LRU

LEAF = 0
OBJECT = 1
TYPENAME = 2


class RowField(NamedTuple):
    """One selected field of a row: its response name, its kind and what to do."""

    response_name: str
    kind: int
    """``LEAF``, ``OBJECT`` or ``TYPENAME``."""
    plan: Any
    """``LeafPlan`` (``LEAF``), ``NestedRows`` (``OBJECT``) or ``None`` (``TYPENAME``)."""


RowPlan = tuple[RowField, ...]
"""How to complete an object selection inline, field by field."""


class NestedRows(NamedTuple):
    """A planned object field and the row plan of its selection."""

    plan: ObjectPlan
    rows: RowPlan


NOT_PLAIN: RowPlan = ()
"""The row plan of a selection that cannot be completed inline."""

DIRECTIVE_VALUES = 16
"""Combinations of directive variable values whose row plans are kept per operation."""


class SharedPlans(NamedTuple):
    """The row plans of one operation, shared by every request that runs it."""

    operation: OperationDefinitionNode
    """Kept so that its id, the key of this entry, is not reused meanwhile."""
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: tuple[str, ...]
    """The variables its directives use, which decide what a selection holds."""
    by_values: LRU[tuple[Any, ...], dict[tuple[str, tuple[int, ...]], RowPlan]]
    """Values of ``variables`` → (type name, field node ids) → row plan."""


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, each subscription event with its own memo (module docstring)."""

    def build_per_event_executor(self, payload: Any) -> Any:
        executor = super().build_per_event_executor(payload)
        if isinstance(getattr(executor, "_relevant_sub_fields", None), dict):
            executor._relevant_sub_fields = {}
        return executor


class InlineExecutor(EventExecutor):
    """Strawberry's executor, completing planned fields inline (see the module docstring).

    ``executor_for`` makes one subclass per schema, with that schema's plans and memo.
    """

    plans: ClassVar[SchemaPlans] = {}
    shared: ClassVar[LRU[int, SharedPlans]] = LRU(0)
    """Row plans shared by the operations of one schema, one entry per operation."""

    _rows: dict[tuple[str, int], tuple[Any, RowPlan]] | None = None
    """This operation's object selections and their row plans (kept with their field lists,
    so ids stay unique while it runs)."""
    _shared_rows: dict[tuple[str, tuple[int, ...]], RowPlan] | None = None
    _grouped: dict[int, tuple[Any, RowPlan]] | None = None
    """This operation's collected field sets (``execute_fields``' argument) and their row
    plans, kept with them so ids stay unique while it runs."""

    def _plans_for(self, object_type: GraphQLObjectType) -> dict[str, Any] | None:
        """The type's field plans; ``None`` without any, or when middleware wraps resolvers
        (the inline path would bypass it)."""
        middleware = self.middleware_manager
        if middleware is not None and middleware.middlewares:
            return None
        return self.plans.get(object_type.name)

    def _row_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> RowPlan:
        """The row plan of an object selection, or ``NOT_PLAIN`` (memoised per selection)."""
        plans = self._plans_for(object_type)
        if plans is None:
            return NOT_PLAIN
        memo = self._rows
        if memo is None:
            memo = self._rows = {}
        key = (object_type.name, id(field_details_list))
        found = memo.get(key)
        if found is not None:
            return found[1]
        shared = self._shared_plans(field_details_list)
        shared_key = (object_type.name, tuple(id(d.node) for d in field_details_list))
        rows = shared.get(shared_key) if shared is not None else None
        if rows is None:
            rows = self._row_plan_of(object_type, field_details_list, plans)
            if shared is not None:
                shared[shared_key] = rows
        memo[key] = (field_details_list, rows)
        return rows

    def _shared_plans(
        self, field_details_list: Any
    ) -> dict[tuple[str, tuple[int, ...]], RowPlan] | None:
        """The row plans this operation shares with others of its document, or ``None`` for a
        selection that is never shared (deferred, or with fragment arguments)."""
        if any(
            d.defer_usage is not None or d.fragment_variable_values is not None
            for d in field_details_list
        ):
            return None
        rows = self._shared_rows
        if rows is not None:
            return rows
        operation = self.operation
        entry = self.shared.get(id(operation))
        if entry is None or entry.operation is not operation:
            fragments = self.fragment_definitions
            entry = SharedPlans(
                operation,
                fragments,
                directive_variables(operation, fragments),
                LRU(DIRECTIVE_VALUES),
            )
            self.shared.put(id(operation), entry)
        coerced = self.variable_values.coerced
        values = tuple(coerced.get(name) for name in entry.variables)
        rows = entry.by_values.get(values)
        if rows is None:
            rows = {}
            entry.by_values.put(values, rows)
        self._shared_rows = rows
        return rows

    def _row_plan_of(
        self, object_type: GraphQLObjectType, field_details_list: Any, plans: dict[str, Any]
    ) -> RowPlan:
        if any(details.node.directives for details in field_details_list):
            return NOT_PLAIN  # @stream / @defer and friends: graphql-core's path
        grouped, new_defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        if new_defer_usages:
            return NOT_PLAIN
        return self._rows_of(grouped, plans)

    def _grouped_row_plan(self, grouped_field_set: Any, plans: dict[str, Any]) -> RowPlan:
        """The row plan of a collected field set (memoised per field set: graphql-core collects
        each selection once per operation, so every object of a list shares it)."""
        memo = self._grouped
        if memo is None:
            memo = self._grouped = {}
        found = memo.get(id(grouped_field_set))
        if found is not None:
            return found[1]
        rows = self._rows_of(grouped_field_set, plans)
        memo[id(grouped_field_set)] = (grouped_field_set, rows)
        return rows

    def _rows_of(self, grouped: Any, plans: dict[str, Any]) -> RowPlan:
        rows: list[RowField] = []
        for response_name, sub_details in grouped.items():
            field_name = sub_details[0].node.name.value
            if field_name == "__typename":
                rows.append(RowField(response_name, TYPENAME, None))
                continue
            plan = plans.get(field_name)
            if plan is None:
                return NOT_PLAIN
            if type(plan) is ObjectPlan:
                nested = self._row_plan(plan.object_type, sub_details)
                if nested is NOT_PLAIN:
                    return NOT_PLAIN
                rows.append(RowField(response_name, OBJECT, NestedRows(plan, nested)))
            else:
                rows.append(RowField(response_name, LEAF, plan))
        return tuple(rows) if rows else NOT_PLAIN

    def _complete_planned(self, plan: Any, field_details_list: Any, source: Any) -> Any:
        """One planned field of ``execute_fields`` completed inline, or ``Undefined``."""
        if type(plan) is LeafPlan:
            return _complete_leaf(plan, source)
        rows = self._row_plan(plan.object_type, field_details_list)
        if rows is NOT_PLAIN:
            return Undefined
        return _complete_object(NestedRows(plan, rows), source)

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: dict[str, Any],
        position_context: Any,
    ) -> Any:
        memo = self._grouped
        known = memo.get(id(grouped_field_set)) if memo is not None else None
        if known is not None and known[1] is not NOT_PLAIN:
            # Every object of a list shares its field set: its row plan is at hand.
            row = _fill_row(known[1], parent_type.name, source_value)
            if row is not None:
                return row
        plans = self._plans_for(parent_type)
        if plans is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        if known is None:
            rows = self._grouped_row_plan(grouped_field_set, plans)
            if rows is not NOT_PLAIN:
                row = _fill_row(rows, parent_type.name, source_value)
                if row is not None:
                    return row
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get(field_details_list[0].node.name.value)
                if plan is not None:
                    completed = self._complete_planned(plan, field_details_list, source_value)
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
    read, coerce, none_to_core = plan
    try:
        value = read(source)
        if value is None or value is Undefined:
            return Undefined if none_to_core else None
        if isinstance(value, Exception):
            return Undefined
        coerced = coerce(value)
    except Exception:
        return Undefined
    return Undefined if coerced is None else coerced


def _complete_object(entry: NestedRows, source: Any) -> Any:
    """A planned object field (or list of objects) completed inline, or ``Undefined``."""
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
        return _complete_rows(rows, object_type, value, items_non_null)
    row = _complete_row(rows, object_type, value)
    return Undefined if row is None else row


def _complete_rows(
    rows: RowPlan, object_type: GraphQLObjectType, items: Any, items_non_null: bool
) -> list[Any] | Any:
    """A list of objects completed inline, or ``Undefined``."""
    completed: list[Any] = []
    for item in items:
        if item is None:
            if items_non_null:
                return Undefined
            completed.append(None)
            continue
        row = _complete_row(rows, object_type, item)
        if row is None:
            return Undefined
        completed.append(row)
    return completed


def _complete_row(
    rows: RowPlan, object_type: GraphQLObjectType, source: Any
) -> dict[str, Any] | None:
    """An object completed inline, or ``None`` when graphql-core's path must decide.

    ``is_type_of`` gets no resolve info: the plans make sure it does not read one.
    """
    is_type_of = object_type.is_type_of
    if is_type_of is not None and is_type_of(source, None) is not True:  # type: ignore[arg-type]
        return None
    return _fill_row(rows, object_type.name, source)


def _fill_row(rows: RowPlan, type_name: str, source: Any) -> dict[str, Any] | None:
    """``_complete_row`` once the type is known to be right."""
    row: dict[str, Any] = {}
    for response_name, kind, plan in rows:
        if kind == LEAF:
            completed = _complete_leaf(plan, source)
        elif kind == OBJECT:
            completed = _complete_object(plan, source)
        else:
            row[response_name] = type_name
            continue
        if completed is Undefined:
            return None
        row[response_name] = completed
    return row


def directive_variables(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[str, ...]:
    """The variables used by directives anywhere in ``operation`` (its fragments included),
    sorted: the only variables that decide which fields a selection holds."""
    names: set[str] = set()
    seen: set[str] = set()

    def visit(selection_set: SelectionSetNode | None) -> None:
        for selection in selection_set.selections if selection_set is not None else ():
            for directive in selection.directives or ():
                names.update(_variables_in(directive.arguments or ()))
            if isinstance(selection, FieldNode | InlineFragmentNode):
                visit(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    visit(fragment.selection_set)

    visit(operation.selection_set)
    return tuple(sorted(names))


def _variables_in(arguments: Any) -> Iterator[str]:
    for argument in arguments:
        value = argument.value
        if isinstance(value, VariableNode):
            yield value.name.value


def executor_for(
    schema: GraphQLSchema,
    *,
    operations: int,
    moments: int,
    base: type[InlineExecutor] = InlineExecutor,
) -> type[InlineExecutor]:
    """An ``InlineExecutor`` (or ``base``) bound to ``schema``'s field plans, sharing the row
    plans of at most ``operations`` operations and remembering ``moments`` ``DateTime``
    serialisations."""
    return type(
        "ExecgateExecutor",
        (base,),
        {"plans": field_plans(schema, moments=moments), "shared": LRU(operations)},
    )
